use cnn::cnn;

cnn! {
    block Inverted(out) {
        residual? {
            conv: Conv2d(out, 1),
        } + downsample: Conv2d(out, 1),
    }

    pub struct Net {
        input: [3, 16, 16],
        b: Inverted(4),
    }
}

fn main() {}
