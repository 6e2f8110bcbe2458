use cnn::cnn;
use cnn::train::{Adam, Optimizer, Train, Trainer};
use cnn::Network;

cnn! {
    /// The features frozen, the head trained: within 64 KiB for batches of 8.
    #[budget(train_memory <= 64 KiB, train_batch = 8)]
    pub struct Net {
        input: [1, 8, 8],
        #[frozen] features: [Conv2d(4, 3, padding = 1), BatchNorm2d, ReLU, MaxPool2d(2)],
        Flatten,
        dropout: Dropout(0.2),
        fc: Linear(10),
    }
}

fn main() {
    assert_eq!(Net::FROZEN, 4);
    let net = cnn::__private::synthetic_network::<Net>();
    let mut trainer = Trainer::new(net, 8, Optimizer::Adam(Adam::new(1e-3))).unwrap();
    assert_eq!(trainer.layout().bytes(), Net::TRAIN_MEMORY_BYTES);
    let x = vec![0.5; 8 * Net::INPUT_LEN];
    let labels = [0, 1, 2, 3, 4, 5, 6, 7];
    let loss = trainer
        .step(&x, |y, g| cnn::train::cross_entropy(y, &labels, 10, 0.0, g))
        .unwrap();
    assert!(loss.is_finite());
}
