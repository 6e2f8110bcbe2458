use cnn::cnn;

cnn! {
    pub struct Net {
        input: [1, 28, 28],
        conv1: Conv2d(6, 5),
        ReLU,
        conv1: Conv2d(16, 5),
    }
}

fn main() {}
