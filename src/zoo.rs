//! The classic architectures, declared with `cnn!`, with torchvision's layer names so that
//! torchvision's state_dicts load unchanged. Their `PARAMS` equal torchvision's for 1000 classes
//! and 3×224×224 inputs (the test suite checks them at compile time).
//!
//! - LeNet-5: LeCun, Bottou, Bengio, Haffner, "Gradient-based learning applied to document
//!   recognition", Proc. IEEE 1998 (ReLU and max pooling, as commonly written today).
//! - AlexNet: Krizhevsky, Sutskever, Hinton, "ImageNet classification with deep convolutional
//!   neural networks", NeurIPS 2012 (torchvision's single-GPU variant).
//! - VGG-11, VGG-16: Simonyan, Zisserman, "Very deep convolutional networks for large-scale image
//!   recognition", ICLR 2015 (configurations A and D).
//! - GoogLeNet: Szegedy et al., "Going deeper with convolutions", CVPR 2015 (torchvision's, with
//!   batch norm and without the auxiliary heads).
//! - ResNet-18/34/50: He, Zhang, Ren, Sun, "Deep residual learning for image recognition", CVPR
//!   2016 (torchvision's v1.5: the stride in the 3×3 convolution of a bottleneck).
//! - CIFAR ResNet-20: the same paper, §4.2: 3 stages of 3 basic blocks on 32×32 images; the
//!   shortcuts that change shape are 1×1 projections (the paper's option B).
//! - DenseNet-121: Huang, Liu, van der Maaten, Weinberger, "Densely connected convolutional
//!   networks", CVPR 2017.
//! - MobileNetV2 (width 1.0 at 224×224, and width 0.5 at 96×96): Sandler et al., "MobileNetV2:
//!   inverted residuals and linear bottlenecks", CVPR 2018.

use crate::cnn;

cnn! {
    /// LeNet-5 for 28×28 grayscale digits.
    pub struct LeNet5 {
        input: [1, 28, 28],
        conv1: Conv2d(6, 5, padding = 2), ReLU, pool1: MaxPool2d(2),
        conv2: Conv2d(16, 5), ReLU, pool2: MaxPool2d(2),
        Flatten,
        fc1: Linear(120), ReLU,
        fc2: Linear(84), ReLU,
        fc3: Linear(10),
    }

    /// AlexNet, as torchvision has it.
    pub struct AlexNet {
        input: [3, 224, 224],
        features: [
            Conv2d(64, 11, 4, 2), ReLU, MaxPool2d(3, 2),
            Conv2d(192, 5, padding = 2), ReLU, MaxPool2d(3, 2),
            Conv2d(384, 3, padding = 1), ReLU,
            Conv2d(256, 3, padding = 1), ReLU,
            Conv2d(256, 3, padding = 1), ReLU, MaxPool2d(3, 2),
        ],
        avgpool: AdaptiveAvgPool2d(6),
        Flatten,
        classifier: [Dropout, Linear(4096), ReLU, Dropout, Linear(4096), ReLU, Linear(1000)],
    }

    /// VGG-11 (configuration A).
    pub struct Vgg11 {
        input: [3, 224, 224],
        features: [
            Conv2d(64, 3, 1, 1), ReLU, MaxPool2d(2),
            Conv2d(128, 3, 1, 1), ReLU, MaxPool2d(2),
            Conv2d(256, 3, 1, 1), ReLU, Conv2d(256, 3, 1, 1), ReLU, MaxPool2d(2),
            Conv2d(512, 3, 1, 1), ReLU, Conv2d(512, 3, 1, 1), ReLU, MaxPool2d(2),
            Conv2d(512, 3, 1, 1), ReLU, Conv2d(512, 3, 1, 1), ReLU, MaxPool2d(2),
        ],
        avgpool: AdaptiveAvgPool2d(7),
        Flatten,
        classifier: [Linear(4096), ReLU, Dropout, Linear(4096), ReLU, Dropout, Linear(1000)],
    }

    /// VGG-16 (configuration D).
    pub struct Vgg16 {
        input: [3, 224, 224],
        features: [
            Conv2d(64, 3, 1, 1), ReLU, Conv2d(64, 3, 1, 1), ReLU, MaxPool2d(2),
            Conv2d(128, 3, 1, 1), ReLU, Conv2d(128, 3, 1, 1), ReLU, MaxPool2d(2),
            Conv2d(256, 3, 1, 1), ReLU, Conv2d(256, 3, 1, 1), ReLU, Conv2d(256, 3, 1, 1), ReLU, MaxPool2d(2),
            Conv2d(512, 3, 1, 1), ReLU, Conv2d(512, 3, 1, 1), ReLU, Conv2d(512, 3, 1, 1), ReLU, MaxPool2d(2),
            Conv2d(512, 3, 1, 1), ReLU, Conv2d(512, 3, 1, 1), ReLU, Conv2d(512, 3, 1, 1), ReLU, MaxPool2d(2),
        ],
        avgpool: AdaptiveAvgPool2d(7),
        Flatten,
        classifier: [Linear(4096), ReLU, Dropout, Linear(4096), ReLU, Dropout, Linear(1000)],
    }

    /// GoogLeNet's convolution: no bias, batch norm, ReLU.
    block BasicConv2d(out, kernel, stride = 1, padding = 0) {
        conv: Conv2d(out, kernel, stride, padding, bias = false),
        bn: BatchNorm2d(eps = 0.001),
        ReLU,
    }

    /// GoogLeNet's inception module (torchvision's, with a 3×3 convolution in the "5×5" branch).
    block Inception(ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj) {
        cat {
            branch1: BasicConv2d(ch1x1, 1),
            branch2: [BasicConv2d(ch3x3red, 1), BasicConv2d(ch3x3, 3, padding = 1)],
            branch3: [BasicConv2d(ch5x5red, 1), BasicConv2d(ch5x5, 3, padding = 1)],
            branch4: [MaxPool2d(3, 1, 1, ceil_mode = true), BasicConv2d(pool_proj, 1)],
        }
    }

    /// GoogLeNet without the auxiliary heads.
    pub struct GoogLeNet {
        input: [3, 224, 224],
        conv1: BasicConv2d(64, 7, 2, 3),
        maxpool1: MaxPool2d(3, 2, ceil_mode = true),
        conv2: BasicConv2d(64, 1),
        conv3: BasicConv2d(192, 3, padding = 1),
        maxpool2: MaxPool2d(3, 2, ceil_mode = true),
        inception3a: Inception(64, 96, 128, 16, 32, 32),
        inception3b: Inception(128, 128, 192, 32, 96, 64),
        maxpool3: MaxPool2d(3, 2, ceil_mode = true),
        inception4a: Inception(192, 96, 208, 16, 48, 64),
        inception4b: Inception(160, 112, 224, 24, 64, 64),
        inception4c: Inception(128, 128, 256, 24, 64, 64),
        inception4d: Inception(112, 144, 288, 32, 64, 64),
        inception4e: Inception(256, 160, 320, 32, 128, 128),
        maxpool4: MaxPool2d(2, 2, ceil_mode = true),
        inception5a: Inception(256, 160, 320, 32, 128, 128),
        inception5b: Inception(384, 192, 384, 48, 128, 128),
        avgpool: AdaptiveAvgPool2d(1),
        Flatten,
        dropout: Dropout(0.2),
        fc: Linear(1000),
    }

    /// ResNet's basic block: two 3×3 convolutions; a projection where the shape changes.
    block BasicBlock(planes, stride = 1) {
        residual {
            conv1: Conv2d(planes, 3, stride, 1, bias = false), bn1: BatchNorm2d, relu: ReLU,
            conv2: Conv2d(planes, 3, 1, 1, bias = false), bn2: BatchNorm2d,
        } + downsample?: [Conv2d(planes, 1, stride, bias = false), BatchNorm2d],
        ReLU,
    }

    /// ResNet's bottleneck: 1×1 down, 3×3, 1×1 up to four times `planes`.
    block Bottleneck(planes, stride = 1) {
        residual {
            conv1: Conv2d(planes, 1, bias = false), bn1: BatchNorm2d, ReLU,
            conv2: Conv2d(planes, 3, stride, 1, bias = false), bn2: BatchNorm2d, ReLU,
            conv3: Conv2d(planes * 4, 1, bias = false), bn3: BatchNorm2d,
        } + downsample?: [Conv2d(planes * 4, 1, stride, bias = false), BatchNorm2d],
        ReLU,
    }

    /// ResNet-18.
    pub struct ResNet18 {
        input: [3, 224, 224],
        conv1: Conv2d(64, 7, 2, 3, bias = false), bn1: BatchNorm2d, relu: ReLU,
        maxpool: MaxPool2d(3, 2, 1),
        layer1: [BasicBlock(64) * 2],
        layer2: [BasicBlock(128, 2), BasicBlock(128)],
        layer3: [BasicBlock(256, 2), BasicBlock(256)],
        layer4: [BasicBlock(512, 2), BasicBlock(512)],
        avgpool: AdaptiveAvgPool2d(1), Flatten,
        fc: Linear(1000),
    }

    /// ResNet-34.
    pub struct ResNet34 {
        input: [3, 224, 224],
        conv1: Conv2d(64, 7, 2, 3, bias = false), bn1: BatchNorm2d, relu: ReLU,
        maxpool: MaxPool2d(3, 2, 1),
        layer1: [BasicBlock(64) * 3],
        layer2: [BasicBlock(128, 2), BasicBlock(128) * 3],
        layer3: [BasicBlock(256, 2), BasicBlock(256) * 5],
        layer4: [BasicBlock(512, 2), BasicBlock(512) * 2],
        avgpool: AdaptiveAvgPool2d(1), Flatten,
        fc: Linear(1000),
    }

    /// ResNet-50.
    pub struct ResNet50 {
        input: [3, 224, 224],
        conv1: Conv2d(64, 7, 2, 3, bias = false), bn1: BatchNorm2d, relu: ReLU,
        maxpool: MaxPool2d(3, 2, 1),
        layer1: [Bottleneck(64) * 3],
        layer2: [Bottleneck(128, 2), Bottleneck(128) * 3],
        layer3: [Bottleneck(256, 2), Bottleneck(256) * 5],
        layer4: [Bottleneck(512, 2), Bottleneck(512) * 2],
        avgpool: AdaptiveAvgPool2d(1), Flatten,
        fc: Linear(1000),
    }

    /// The CIFAR-10 ResNet-20 of He et al. (2016), §4.2.
    pub struct ResNet20 {
        input: [3, 32, 32],
        conv1: Conv2d(16, 3, 1, 1, bias = false), bn1: BatchNorm2d, relu: ReLU,
        layer1: [BasicBlock(16) * 3],
        layer2: [BasicBlock(32, 2), BasicBlock(32) * 2],
        layer3: [BasicBlock(64, 2), BasicBlock(64) * 2],
        avgpool: AdaptiveAvgPool2d(1), Flatten,
        fc: Linear(10),
    }

    /// DenseNet's layer: batch norm, ReLU, 1×1 to 4 × 32 channels, batch norm, ReLU, 3×3 to 32
    /// new channels, concatenated to its input.
    block DenseLayer {
        cat {
            Identity,
            {
                norm1: BatchNorm2d, relu1: ReLU, conv1: Conv2d(128, 1, bias = false),
                norm2: BatchNorm2d, relu2: ReLU, conv2: Conv2d(32, 3, padding = 1, bias = false),
            },
        }
    }

    /// DenseNet's transition: halves the channels and the resolution.
    block Transition {
        norm: BatchNorm2d, relu: ReLU,
        conv: Conv2d(in_channels / 2, 1, bias = false),
        pool: AvgPool2d(2, 2),
    }

    /// DenseNet-121.
    pub struct DenseNet121 {
        input: [3, 224, 224],
        features: {
            conv0: Conv2d(64, 7, 2, 3, bias = false), norm0: BatchNorm2d, relu0: ReLU,
            pool0: MaxPool2d(3, 2, 1),
            denseblock1: { denselayer{1..=6}: DenseLayer }, transition1: Transition,
            denseblock2: { denselayer{1..=12}: DenseLayer }, transition2: Transition,
            denseblock3: { denselayer{1..=24}: DenseLayer }, transition3: Transition,
            denseblock4: { denselayer{1..=16}: DenseLayer },
            norm5: BatchNorm2d,
        },
        ReLU,
        AdaptiveAvgPool2d(1), Flatten,
        classifier: Linear(1000),
    }

    /// MobileNetV2's convolution: batch norm and ReLU6, as `nn.Sequential` (0, 1, 2).
    block ConvBNReLU6(out, kernel = 3, stride = 1, groups = 1) {
        [Conv2d(out, kernel, stride, (kernel - 1) / 2, groups = groups, bias = false), BatchNorm2d, ReLU6]
    }

    /// MobileNetV2's inverted residual without expansion (t = 1).
    block InvertedResidual1(out, stride) {
        residual? {
            conv: [
                ConvBNReLU6(in_channels, 3, stride, in_channels),
                Conv2d(out, 1, bias = false), BatchNorm2d,
            ],
        }
    }

    /// MobileNetV2's inverted residual with expansion t = 6.
    block InvertedResidual6(out, stride) {
        residual? {
            conv: [
                ConvBNReLU6(in_channels * 6, 1),
                ConvBNReLU6(in_channels * 6, 3, stride, in_channels * 6),
                Conv2d(out, 1, bias = false), BatchNorm2d,
            ],
        }
    }

    /// MobileNetV2, width 1.0.
    pub struct MobileNetV2 {
        input: [3, 224, 224],
        features: [
            ConvBNReLU6(32, 3, 2),
            InvertedResidual1(16, 1),
            InvertedResidual6(24, 2), InvertedResidual6(24, 1),
            InvertedResidual6(32, 2), InvertedResidual6(32, 1) * 2,
            InvertedResidual6(64, 2), InvertedResidual6(64, 1) * 3,
            InvertedResidual6(96, 1) * 3,
            InvertedResidual6(160, 2), InvertedResidual6(160, 1) * 2,
            InvertedResidual6(320, 1),
            ConvBNReLU6(1280, 1),
        ],
        AdaptiveAvgPool2d(1), Flatten,
        classifier: [Dropout(0.2), Linear(1000)],
    }

    /// MobileNetV2 of width 0.5 at 96×96 (torchvision's `mobilenet_v2(width_mult=0.5)`: channels
    /// halved and rounded to multiples of 8, the last convolution kept at 1280), a common
    /// benchmark of small devices.
    pub struct MobileNetV2Half {
        input: [3, 96, 96],
        features: [
            ConvBNReLU6(16, 3, 2),
            InvertedResidual1(8, 1),
            InvertedResidual6(16, 2), InvertedResidual6(16, 1),
            InvertedResidual6(16, 2), InvertedResidual6(16, 1) * 2,
            InvertedResidual6(32, 2), InvertedResidual6(32, 1) * 3,
            InvertedResidual6(48, 1) * 3,
            InvertedResidual6(80, 2), InvertedResidual6(80, 1) * 2,
            InvertedResidual6(160, 1),
            ConvBNReLU6(1280, 1),
        ],
        AdaptiveAvgPool2d(1), Flatten,
        classifier: [Dropout(0.2), Linear(1000)],
    }
}
