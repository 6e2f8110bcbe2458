use cnn::cnn;

cnn! {
    block Bottleneck(planes) {
        conv3: Conv2d(plane * 4, 1),
    }

    pub struct Net {
        input: [3, 16, 16],
        b: Bottleneck(8),
    }
}

fn main() {}
