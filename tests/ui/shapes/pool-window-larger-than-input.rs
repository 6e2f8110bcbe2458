use cnn::cnn;

cnn! {
    pub struct Net {
        input: [3, 8, 8],
        conv1: Conv2d(4, 3, stride = 3),
        MaxPool2d(4),
    }
}

fn main() {}
