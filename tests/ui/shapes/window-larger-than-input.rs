use cnn::cnn;

cnn! {
    pub struct Net {
        input: [1, 12, 12],
        conv1: Conv2d(6, 5),
        pool1: MaxPool2d(2),
        conv2: Conv2d(16, 5),
    }
}

fn main() {}
