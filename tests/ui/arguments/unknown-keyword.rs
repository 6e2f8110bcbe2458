use cnn::cnn;

cnn! {
    pub struct Net {
        input: [1, 28, 28],
        conv1: Conv2d(6, 5, stirde = 2),
    }
}

fn main() {}
