use cnn::cnn;

cnn! {
    pub struct Net {
        input: [1, 28, 28],
        conv1: Conv2d(6, 0),
        Conv2d(16, 5),
        pool: MaxPool2d(2, stirde = 2),
        pool: ReLU,
    }
}

fn main() {}
