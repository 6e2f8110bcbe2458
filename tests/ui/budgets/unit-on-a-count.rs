use cnn::cnn;

cnn! {
    #[budget(params <= 10 KiB)]
    pub struct Net {
        input: [4],
        fc: Linear(2),
    }
}

fn main() {}
