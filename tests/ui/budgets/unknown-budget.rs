use cnn::cnn;

cnn! {
    #[budget(parameters <= 1000)]
    pub struct Net {
        input: [4],
        fc: Linear(2),
    }
}

fn main() {}
