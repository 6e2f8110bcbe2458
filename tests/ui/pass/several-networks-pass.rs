use cnn::{Network, cnn};

mod nets {
    use cnn::cnn;

    cnn! {
        #[derive(Debug)]
        pub struct Encoder {
            input: [3, 32, 32],
            conv: Conv2d(8, 3, 1, 1, 1, 1, true),
            bn: BatchNorm2d(1e-5, 0.1, True, True),
            ReLU(),
            AdaptiveAvgPool2d(1),
            Flatten(),
            output: [8],
        }

        pub(crate) struct Head {
            input: [8],
            fc: Linear(4),
            Softmax(dim = -1),
        }
    }
}

cnn! {
    #[budget(weights <= 2 KiB, memory <= 1 MB)]
    struct Local {
        input: [1, 16],
        conv: Conv1d(1, 3, padding = "same"),
    }
}

fn main() {
    assert_eq!(nets::Encoder::OUTPUT_SHAPE, nets::Head::INPUT_SHAPE);
    assert_eq!(Local::OUTPUT_SHAPE, &[1, 16]);
}
