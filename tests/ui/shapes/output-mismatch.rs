use cnn::cnn;

cnn! {
    pub struct Net {
        input: [4],
        fc1: Linear(8),
        ReLU,
        fc2: Linear(3),
        output: [10],
    }
}

fn main() {}
