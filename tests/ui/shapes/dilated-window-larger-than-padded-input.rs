use cnn::cnn;

cnn! {
    pub struct Net {
        input: [2, 9],
        conv1: Conv1d(4, 3, dilation = 6, padding = 1),
    }
}

fn main() {}
