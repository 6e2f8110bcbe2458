use cnn::cnn;

cnn! {
    pub struct Net {
        input: [1, 28, 28],
        conv1: Conv2d(6, 5),
        pool1: MaxPool2d(2),
        fc1: Linear(10),
    }
}

fn main() {}
