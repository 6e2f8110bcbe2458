use cnn::cnn;

cnn! {
    pub struct Net {
        input: [16, 5, 5],
        Flatten,
        fc1: Linear(in_features = 256, out_features = 120),
    }
}

fn main() {}
