use cnn::cnn;

cnn! {
    pub struct Net {
        input: [3, 50],
        conv1: Conv1d(8, 3),
        bn1: BatchNorm2d,
    }
}

fn main() {}
