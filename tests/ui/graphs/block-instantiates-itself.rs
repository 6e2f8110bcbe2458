use cnn::cnn;

cnn! {
    block Loop(c) {
        conv: Conv2d(c, 1),
        again: Loop(c),
    }

    pub struct Net {
        input: [3, 16, 16],
        l: Loop(4),
    }
}

fn main() {}
