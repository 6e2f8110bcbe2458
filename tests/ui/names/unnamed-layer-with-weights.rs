use cnn::cnn;

cnn! {
    pub struct Net {
        input: [1, 28, 28],
        Conv2d(6, 5),
        ReLU,
        BatchNorm2d,
    }
}

fn main() {}
