use cnn::cnn;

cnn! {
    pub struct Net {
        input: [3, 16, 16],
        MaxPool2d(2, padding = 2),
    }
}

fn main() {}
