use cnn::cnn;

cnn! {
    pub struct Net {
        input: [100000, 100000, 100000],
        conv1: Conv2d(100000, 1),
    }
}

fn main() {}
