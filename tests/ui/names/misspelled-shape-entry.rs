use cnn::cnn;

cnn! {
    pub struct Net {
        inptu: [1, 28, 28],
        conv1: Conv2d(6, 5),
    }
}

fn main() {}
