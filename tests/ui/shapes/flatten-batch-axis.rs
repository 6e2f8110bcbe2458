use cnn::cnn;

cnn! {
    pub struct Net {
        input: [3, 4, 4],
        Flatten(0),
    }
}

fn main() {}
