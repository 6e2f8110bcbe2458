use cnn::cnn;

cnn! {
    pub struct Net {
        input: [3, 16, 16],
        cat {
            a: Conv2d(8, 3, padding = 1),
            b: Conv2d(8, 3),
        },
    }
}

fn main() {}
