use cnn::cnn;

cnn! {
    #[budget(memory <= 16 KiB)]
    pub struct LeNet5 {
        input: [1, 28, 28],
        conv1: Conv2d(6, 5, padding = 2),
        ReLU,
        pool1: MaxPool2d(2),
        conv2: Conv2d(16, 5),
        ReLU,
        pool2: MaxPool2d(2),
        Flatten,
        fc1: Linear(120),
        ReLU,
        fc2: Linear(84),
        ReLU,
        fc3: Linear(10),
    }
}

fn main() {}
