use cnn::cnn;

cnn! {
    pub struct Net {
        conv1: Conv2d(6, 5),
        input: [1, 28, 28],
    }
}

fn main() {}
