//! The zoo's figures: parameter counts equal torchvision's (compile-time facts), and the memory
//! plan between its lower bound and one buffer per tensor.

use cnn::Network;
use cnn::zoo::*;

// torchvision's `sum(p.numel() for p in model.parameters())`, 1000 classes.
const _: () = assert!(AlexNet::PARAMS == 61_100_840);
const _: () = assert!(Vgg11::PARAMS == 132_863_336);
const _: () = assert!(Vgg16::PARAMS == 138_357_544);
const _: () = assert!(GoogLeNet::PARAMS == 6_624_904);
const _: () = assert!(ResNet18::PARAMS == 11_689_512);
const _: () = assert!(ResNet34::PARAMS == 21_797_672);
const _: () = assert!(ResNet50::PARAMS == 25_557_032);
const _: () = assert!(DenseNet121::PARAMS == 7_978_856);
const _: () = assert!(MobileNetV2::PARAMS == 3_504_872);
const _: () = assert!(LeNet5::PARAMS == 61_706);
// torchvision's `mobilenet_v2(width_mult=0.5)`.
const _: () = assert!(MobileNetV2Half::PARAMS == 1_968_680);

/// torchvision's buffers (batch-norm running statistics; `num_batches_tracked` is not loaded)
/// are the rest of the weight bytes.
#[test]
fn weight_bytes_count_parameters_and_running_statistics() {
    // `sum(b.numel() for b in model.buffers())` minus one `num_batches_tracked` per batch norm.
    let running = |n: &[cnn::TensorSpec]| {
        n.iter()
            .filter(|t| t.name.ends_with("running_mean") || t.name.ends_with("running_var"))
            .map(|t| t.len())
            .sum::<usize>()
    };
    assert_eq!(running(ResNet18::TENSORS), 9_620 - 20);
    assert_eq!(running(ResNet50::TENSORS), 53_173 - 53);
    assert_eq!(running(DenseNet121::TENSORS), 83_769 - 121);
    assert_eq!(running(MobileNetV2::TENSORS), 34_164 - 52);
    assert_eq!(running(GoogLeNet::TENSORS), 14_617 - 57);
    assert_eq!(ResNet50::WEIGHT_BYTES, 4 * (25_557_032 + 53_173 - 53));
}

#[test]
fn torchvision_names() {
    let names = |t: &[cnn::TensorSpec]| t.iter().map(|t| t.name).collect::<Vec<_>>();
    let r50 = names(ResNet50::TENSORS);
    assert!(r50.contains(&"layer1.0.downsample.0.weight"));
    assert!(r50.contains(&"layer4.2.bn3.running_var"));
    assert!(!r50.contains(&"layer1.1.downsample.0.weight"));
    let dense = names(DenseNet121::TENSORS);
    assert!(dense.contains(&"features.denseblock1.denselayer1.norm1.running_mean"));
    assert!(dense.contains(&"features.denseblock4.denselayer16.conv2.weight"));
    assert!(dense.contains(&"features.transition3.conv.weight"));
    let mobile = names(MobileNetV2::TENSORS);
    assert!(mobile.contains(&"features.1.conv.0.0.weight"));
    assert!(mobile.contains(&"features.2.conv.3.running_mean"));
    assert!(mobile.contains(&"features.18.1.weight"));
    let google = names(GoogLeNet::TENSORS);
    assert!(google.contains(&"inception4e.branch4.1.bn.weight"));
    assert!(names(Vgg16::TENSORS).contains(&"features.28.weight"));
    assert!(names(AlexNet::TENSORS).contains(&"classifier.6.bias"));
}

/// Runs a zoo network with synthetic weights on the synthetic input and compares with
/// torchvision's output (`tools/make_zoo_golden.py`).
fn against_torchvision<N: Network>(name: &str) {
    let net: N = cnn::__private::synthetic_network();
    let input = cnn::__private::synthetic_input(N::INPUT_LEN);
    let (_, want) = crate::common::read_tensor(&format!("zoo/{name}.io.safetensors"), "output");
    let got = net.infer(&input).expect("one image");
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-4 * scale.max(1.0),
            "{name}: output {i} is {g}, torchvision gives {w} (largest output {scale})"
        );
    }
}

#[test]
fn resnet18_matches_torchvision() {
    against_torchvision::<ResNet18>("resnet18");
}

#[test]
fn resnet50_matches_torchvision() {
    against_torchvision::<ResNet50>("resnet50");
}

#[test]
fn mobilenet_v2_matches_torchvision() {
    against_torchvision::<MobileNetV2>("mobilenet_v2");
}

#[test]
fn densenet121_matches_torchvision() {
    against_torchvision::<DenseNet121>("densenet121");
}

#[test]
fn googlenet_matches_torchvision() {
    against_torchvision::<GoogLeNet>("googlenet");
}

/// The zoo's state_dict is torchvision's, key for key and shape for shape, so that torchvision's
/// weights load without renaming (keys listed by `tools/make_zoo_golden.py`).
fn same_keys_as_torchvision<N: Network>(name: &str) {
    let text = std::fs::read_to_string(crate::common::data_path(&format!("zoo/{name}.keys.txt")))
        .expect("the key list");
    let mut want: Vec<String> = text
        .lines()
        .filter(|l| !l.contains("num_batches_tracked"))
        .map(str::to_string)
        .collect();
    let mut got: Vec<String> = N::TENSORS
        .iter()
        .map(|t| format!("{} {:?}", t.name, t.shape))
        .collect();
    want.sort();
    got.sort();
    let missing: Vec<&String> = want.iter().filter(|k| !got.contains(k)).collect();
    let extra: Vec<&String> = got.iter().filter(|k| !want.contains(k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{name}: missing {missing:?}, extra {extra:?}"
    );
}

#[test]
fn state_dicts_are_torchvision_s() {
    same_keys_as_torchvision::<AlexNet>("alexnet");
    same_keys_as_torchvision::<Vgg11>("vgg11");
    same_keys_as_torchvision::<Vgg16>("vgg16");
    same_keys_as_torchvision::<GoogLeNet>("googlenet");
    same_keys_as_torchvision::<ResNet18>("resnet18");
    same_keys_as_torchvision::<ResNet34>("resnet34");
    same_keys_as_torchvision::<ResNet50>("resnet50");
    same_keys_as_torchvision::<DenseNet121>("densenet121");
    same_keys_as_torchvision::<MobileNetV2>("mobilenet_v2");
}

/// The steps of the forward pass: batch norms and activations fused into the layer before them,
/// a residual add after its block, each named by its first layer's state_dict prefix.
#[test]
fn steps_name_what_each_runs() {
    assert_eq!(
        LeNet5::STEPS,
        [
            "conv1 Conv2d+ReLU [6, 28, 28]",
            "pool1 MaxPool2d [6, 14, 14]",
            "conv2 Conv2d+ReLU [16, 10, 10]",
            "pool2 MaxPool2d [16, 5, 5]",
            "fc1 Linear+ReLU [120]",
            "fc2 Linear+ReLU [84]",
            "fc3 Linear [10]",
        ]
    );
    assert_eq!(
        ResNet20::STEPS[0],
        "conv1 Conv2d+BatchNorm2d+ReLU [16, 32, 32]"
    );
    assert_eq!(ResNet20::STEPS[3], "- add+ReLU [16, 32, 32]");
    // The stem; two convolutions and an add per block; two projections; the pool and the
    // classifier (`Flatten` is a view, no step).
    assert_eq!(ResNet20::STEPS.len(), 1 + 9 * 3 + 2 + 2);
    // MobileNetV2's expansion and depthwise layers run as one step, the projection as another;
    // so do its stem and the first block's depthwise layer.
    assert_eq!(
        &MobileNetV2Half::STEPS[..4],
        [
            "features.0.0 Conv2d+BatchNorm2d+ReLU6+Conv2d+BatchNorm2d+ReLU6 [16, 48, 48]",
            "features.1.conv.1 Conv2d+BatchNorm2d [8, 48, 48]",
            "features.2.conv.0.0 Conv2d+BatchNorm2d+ReLU6+Conv2d+BatchNorm2d+ReLU6 [48, 24, 24]",
            "features.2.conv.2 Conv2d+BatchNorm2d [16, 24, 24]",
        ]
    );
    // The stem with the first depthwise layer; two steps per block, and an add per block with a
    // residual; the last convolution, the pool, the classifier.
    assert_eq!(MobileNetV2Half::STEPS.len(), 1 + 17 * 2 - 1 + 10 + 3);
    // Its arena holds no expanded tensor: the busiest step is a projection's on 24×24, the
    // depthwise output it reads (96 channels), its output and the block's input for the
    // residual (16 each), not an expansion and its depthwise output (96 + 96).
    assert_eq!(
        MobileNetV2Half::PEAK_LIVE_BYTES,
        4 * (96 + 16 + 16) * 24 * 24
    );
}

/// With the `profile` feature, every step of every forward pass counts one run and its time.
#[cfg(feature = "profile")]
#[test]
fn profile_counts_every_step() {
    let net: ResNet20 = cnn::__private::synthetic_network();
    let input = cnn::__private::synthetic_input(ResNet20::INPUT_LEN);
    cnn::profile::reset::<ResNet20>();
    for _ in 0..3 {
        net.infer(&input).expect("runs");
    }
    let times = cnn::profile::times::<ResNet20>();
    assert_eq!(times.len(), ResNet20::STEPS.len());
    for (t, &step) in times.iter().zip(ResNet20::STEPS) {
        assert_eq!((t.step, t.runs), (step, 3));
        assert!(t.total > std::time::Duration::ZERO, "{step}");
    }
    let table = cnn::profile::table::<ResNet20>();
    assert!(table.contains(ResNet20::STEPS[0]) && table.contains("sum of the steps"));
    cnn::profile::reset::<ResNet20>();
    assert!(
        cnn::profile::times::<ResNet20>()
            .iter()
            .all(|t| t.runs == 0)
    );
}

/// A batch runs its heavy layers over groups of inputs; each input's output is the one it gets
/// alone, bit for bit, whatever the group (arenas for 1, 3 or `GROUP` inputs) and the size of
/// the batch.
fn batch_equals_one_by_one<N: Network>(n: usize) {
    let net: N = cnn::__private::synthetic_network();
    let input = cnn::__private::synthetic_input(n * N::INPUT_LEN);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
    let alone: Vec<f32> = input
        .chunks_exact(N::INPUT_LEN)
        .flat_map(|x| net.infer(x).expect("one input"))
        .collect();
    for arenas in [1, 3, N::GROUP] {
        let mut output = vec![f32::NAN; n * N::OUTPUT_LEN];
        let mut arena = vec![0.0; arenas * N::ARENA_LEN];
        net.forward_batch(&input, &mut output, &mut arena)
            .expect("a batch");
        assert_eq!(
            bits(&output),
            bits(&alone),
            "{}: arenas for {arenas}",
            N::NAME
        );
    }
    let many = net.infer_many(&input).expect("a batch");
    assert_eq!(bits(&many), bits(&alone), "{}: infer_many", N::NAME);
}

#[test]
fn batches_give_each_input_its_own_output() {
    assert_eq!(
        (LeNet5::GROUP, ResNet20::GROUP, MobileNetV2Half::GROUP),
        (16, 16, 16)
    );
    batch_equals_one_by_one::<LeNet5>(37);
    batch_equals_one_by_one::<ResNet20>(5);
    batch_equals_one_by_one::<MobileNetV2Half>(5);
}
