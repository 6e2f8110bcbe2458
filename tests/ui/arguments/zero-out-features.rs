use cnn::cnn;

cnn! {
    pub struct Net {
        input: [10],
        fc: Linear(0),
    }
}

fn main() {}
