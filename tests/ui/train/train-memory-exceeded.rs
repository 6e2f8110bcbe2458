use cnn::cnn;

cnn! {
    // Fine-tuning the head of LeNet-5 on a device: a batch of 16 does not fit in 256 KiB, even
    // with the convolutions frozen (fc1's gradients and Adam's state alone take 564 KiB).
    #[budget(train_memory <= 256 KiB, train_batch = 16)]
    pub struct LeNet5 {
        input: [1, 28, 28],
        #[frozen] features: [
            Conv2d(6, 5, padding = 2), ReLU, MaxPool2d(2),
            Conv2d(16, 5), ReLU, MaxPool2d(2),
        ],
        Flatten,
        fc1: Linear(120),
        ReLU,
        fc2: Linear(84),
        ReLU,
        fc3: Linear(10),
    }
}

fn main() {}
