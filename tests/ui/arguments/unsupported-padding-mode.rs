use cnn::cnn;

cnn! {
    pub struct Net {
        input: [1, 28, 28],
        conv1: Conv2d(6, 3, padding_mode = "reflect"),
    }
}

fn main() {}
