//! Classifies a blank image with the device build of LeNet-5, as a device's firmware would
//! (the buffers `static`s there); measured for code size in BENCHMARKS.md:
//! `cargo build --release -p cnn-nostd --example digit`, then `nm` on the binary.

fn main() -> Result<(), cnn::Error> {
    let weights = Box::leak(Box::new([0.0; cnn_nostd::WEIGHTS_LEN]));
    let net = cnn_nostd::load(weights)?;
    let mut arena = [0.0; cnn_nostd::ARENA_LEN];
    let mut scores = [0.0; 10];
    let image = [0.0; 784];
    let digit = cnn_nostd::classify(&net, &image, &mut scores, &mut arena)?;
    println!("a blank image is a {digit}: scores {scores:?}");
    Ok(())
}
