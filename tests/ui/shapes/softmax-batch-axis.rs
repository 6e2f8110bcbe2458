use cnn::cnn;

cnn! {
    pub struct Net {
        input: [3, 10],
        Softmax,
    }
}

fn main() {}
