use cnn::cnn;

cnn! {
    block Block(c) {
        conv: Conv2d(c, 3, padding = 1),
    }

    pub struct Net {
        input: [3, 16, 16],
        layer1: Block(8) * 2,
    }
}

fn main() {}
