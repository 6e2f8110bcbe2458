use cnn::cnn;

cnn! {
    pub struct Net {
        conv1: Conv2d(6, 5),
    }
}

fn main() {}
