use cnn::cnn;

cnn! {
    #[budget(train_memory <= 1 MiB, train_batch <= 32)]
    pub struct Net {
        input: [1, 8, 8],
        conv1: Conv2d(4, 3),
        Flatten,
        fc: Linear(10),
    }
}

fn main() {}
