use cnn::cnn;

cnn! {
    pub struct Net {
        input: [3, 8, 8],
        conv1: Conv2d(16, 3),
        bn1: BatchNorm2d(num_features = 32),
    }
}

fn main() {}
