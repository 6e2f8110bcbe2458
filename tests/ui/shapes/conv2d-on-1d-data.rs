use cnn::cnn;

cnn! {
    pub struct Net {
        input: [2, 100],
        conv1: Conv2d(4, 3),
    }
}

fn main() {}
