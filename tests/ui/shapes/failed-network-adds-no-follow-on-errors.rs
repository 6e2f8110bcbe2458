use cnn::{Network, cnn};

cnn! {
    pub struct Net {
        input: [1, 4, 4],
        conv1: Conv2d(2, 5),
    }
}

fn main() {
    let net = Net::from_safetensors(&[]).unwrap();
    let _ = net.infer(&[0.0; 16]);
    let _ = Net::PARAMS + Net::OUTPUT_LEN;
}
