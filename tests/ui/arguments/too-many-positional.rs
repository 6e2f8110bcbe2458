use cnn::cnn;

cnn! {
    pub struct Net {
        input: [1, 28, 28],
        ReLU(true, 3),
    }
}

fn main() {}
