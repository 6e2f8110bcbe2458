use cnn::cnn;

cnn! {
    pub struct Net {
        input: [6, 8, 8],
        conv1: Conv2d(8, 3, groups = 4),
    }
}

fn main() {}
