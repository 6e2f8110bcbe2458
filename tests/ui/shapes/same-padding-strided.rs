use cnn::cnn;

cnn! {
    pub struct Net {
        input: [3, 16, 16],
        conv1: Conv2d(8, 3, stride = 2, padding = "same"),
    }
}

fn main() {}
