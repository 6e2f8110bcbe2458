use cnn::cnn;

cnn! {
    pub enum Net {
        input: [4],
    }
}

fn main() {}
