use cnn::cnn;

cnn! {
    pub struct Net {
        input: [4, 8, 8],
        conv1: Conv2d(6, 3, groups = 4),
    }
}

fn main() {}
