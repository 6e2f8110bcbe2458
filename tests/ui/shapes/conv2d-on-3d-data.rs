use cnn::cnn;

cnn! {
    pub struct Net {
        input: [1, 16, 32, 32],
        conv1: Conv2d(4, 3),
    }
}

fn main() {}
