use cnn::cnn;

cnn! {
    block Block(c) {
        Conv2d(c, 3, padding = 1),
        ReLU,
    }

    pub struct Net {
        input: [3, 16, 16],
        layer1: [Block(8) * 3],
    }
}

fn main() {}
