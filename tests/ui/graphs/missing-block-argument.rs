use cnn::cnn;

cnn! {
    block Block(planes, stride = 1) {
        conv: Conv2d(planes, 3, stride, 1),
    }

    pub struct Net {
        input: [3, 16, 16],
        b: Block(stride = 2),
    }
}

fn main() {}
