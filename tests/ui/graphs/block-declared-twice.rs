use cnn::cnn;

cnn! {
    block Block(c) {
        conv: Conv2d(c, 1),
    }

    block Block(c) {
        conv: Conv2d(c, 3),
    }

    pub struct Net {
        input: [3, 16, 16],
        b: Block(4),
    }
}

fn main() {}
