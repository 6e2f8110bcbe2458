use cnn::cnn;

cnn! {
    block Block(c, stride) {
        conv: Conv2d(c, 3, stride),
    }

    pub struct Net {
        input: [3, 16, 16],
        layer1: [Block(8, 2) * 4],
    }
}

fn main() {}
