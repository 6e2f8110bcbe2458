use cnn::cnn;

cnn! {
    pub struct Net {
        input: [1, 28, 28],
        conv1: Conv2d(6, "five"),
        pool1: MaxPool2d(2, ceil_mode = 1),
    }
}

fn main() {}
