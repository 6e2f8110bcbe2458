use cnn::cnn;

cnn! {
    #[budget(memory <= 32 KiBs)]
    pub struct Net {
        input: [4],
        fc: Linear(2),
    }
}

fn main() {}
