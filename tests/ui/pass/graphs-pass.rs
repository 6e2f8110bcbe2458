use cnn::{Network, cnn};

cnn! {
    /// A block used before its declaration.
    pub struct Tiny {
        input: [3, 32, 32],
        stem: [Conv2d(16, 3, 1, 1, bias = false), BatchNorm2d, ReLU],
        layer1: [Basic(16) * 2],
        layer2: [Basic(32, 2), Basic(32)],
        mix: Mix(8),
        head: { pool: AdaptiveAvgPool2d(1), flat: Flatten, fc: Linear(10) },
    }

    block Basic(planes, stride = 1) {
        residual {
            conv1: Conv2d(planes, 3, stride, 1, bias = false), bn1: BatchNorm2d, ReLU,
            conv2: Conv2d(planes, 3, 1, 1, bias = false), bn2: BatchNorm2d,
        } + downsample?: [Conv2d(planes, 1, stride, bias = false), BatchNorm2d],
        ReLU,
    }

    block Mix(c) {
        cat { a: Conv2d(c, 1), b: [MaxPool2d(3, 1, 1), Conv2d(in_channels - c, 1)] }
    }
}

fn main() {
    assert_eq!(Tiny::OUTPUT_SHAPE, &[10]);
    let names: Vec<&str> = Tiny::TENSORS.iter().map(|t| t.name).collect();
    assert!(names.contains(&"layer2.0.downsample.1.running_var"));
    assert!(!names.iter().any(|n| n.starts_with("layer1.0.downsample")));
    assert!(names.contains(&"stem.1.weight"));
    assert!(names.contains(&"head.fc.weight"));
    assert!(names.contains(&"mix.b.1.weight"));
}
