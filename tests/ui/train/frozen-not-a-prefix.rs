use cnn::cnn;

cnn! {
    pub struct Net {
        input: [1, 8, 8],
        conv1: Conv2d(4, 3),
        ReLU,
        #[frozen] conv2: Conv2d(8, 3),
        Flatten,
        fc: Linear(10),
    }
}

fn main() {}
