use cnn::cnn;

cnn! {
    pub struct Net {
        input: [3, 8, 8],
        Flatten,
        MaxPool2d(2),
    }
}

fn main() {}
