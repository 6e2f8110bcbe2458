use cnn::cnn;

cnn! {
    pub struct Net {
        input: [4],
        fc: Linear(out_features = Some(3)),
    }
}

fn main() {}
