use cnn::cnn;

cnn! {
    block Block(planes, stride = 1) {
        residual {
            conv1: Conv2d(planes, 3, stride, 1, bias = false),
            bn1: BatchNorm2d,
        },
        ReLU,
    }

    pub struct Net {
        input: [16, 32, 32],
        layer1: [Block(16), Block(32, 2)],
    }
}

fn main() {}
