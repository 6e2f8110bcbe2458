use cnn::cnn;

cnn! {
    pub struct Net {
        input: [1, 28, 28],
        conv1: Conv2d(in_channels = 3, out_channels = 6, kernel_size = 5),
    }
}

fn main() {}
