//! Helpers shared by the tests: a seeded generator, golden files, comparisons.

use std::path::PathBuf;

use cnn::{Network, Weights};

/// The runtime's seeded generator (SplitMix64), with what test data needs.
pub struct Rng(cnn::train::Rng);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(cnn::train::Rng::new(seed))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32)
    }

    pub fn vec(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform(lo, hi)).collect()
    }
}

/// A weight buffer with every tensor random: variances in `[0.5, 1.5)`, the rest in `[-1, 1)`.
pub fn random_weights<N: Network>(rng: &mut Rng) -> Vec<f32> {
    let mut w = vec![0.0; N::WEIGHTS_LEN];
    for t in N::TENSORS {
        let (lo, hi) = if t.name.ends_with("running_var") {
            (0.5, 1.5)
        } else {
            (-1.0, 1.0)
        };
        for v in &mut w[t.offset..t.offset + t.len()] {
            *v = rng.uniform(lo, hi);
        }
    }
    w
}

/// The state_dict tensor `name` of a weight buffer.
pub fn tensor<'a, N: Network>(weights: &'a [f32], name: &str) -> &'a [f32] {
    let t = N::TENSORS
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("the network has no tensor `{name}`"));
    &weights[t.offset..t.offset + t.len()]
}

/// Runs `N` with random weights on random inputs and compares with the reference.
pub fn check_against_reference<N: Network>(seed: u64) {
    let mut rng = Rng::new(seed);
    let w = random_weights::<N>(&mut rng);
    let net = N::from_weights(Weights::Owned(w.clone())).expect("weights of the right length");
    for _ in 0..2 {
        let x = rng.vec(N::INPUT_LEN, -2.0, 2.0);
        let got = net.infer(&x).expect("input of the right length");
        let want = cnn::reference::forward(N::LAYERS, N::INPUTS, N::INPUT_SHAPE, &x, |n| {
            tensor::<N>(&w, n)
        });
        assert_eq!(
            want.shape,
            N::OUTPUT_SHAPE,
            "the reference's output shape differs from the macro's"
        );
        assert_close(&got, &want.data, 1e-5, N::NAME);
    }
}

/// `|got - want| <= tol * max(1, |want|)` everywhere, NaNs matching NaNs.
pub fn assert_close(got: &[f32], want: &[f32], tol: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let ok = (g.is_nan() && w.is_nan()) || g == w || (g - w).abs() <= tol * w.abs().max(1.0);
        assert!(
            ok,
            "{what}: value {i} is {g}, want {w} (tolerance {tol} relative)"
        );
    }
}

pub fn data_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

/// The `f32` tensors of a safetensors file, with their shapes.
pub fn read_tensors(rel: &str) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(data_path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let file = safetensors::SafeTensors::deserialize(&bytes).expect("a safetensors file");
    let mut out: Vec<_> = file
        .iter()
        .map(|(name, t)| {
            let data = t
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (name.to_string(), t.shape().to_vec(), data)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// One tensor of a safetensors file.
pub fn read_tensor(rel: &str, name: &str) -> (Vec<usize>, Vec<f32>) {
    read_tensors(rel)
        .into_iter()
        .find(|t| t.0 == name)
        .map(|(_, s, d)| (s, d))
        .unwrap_or_else(|| panic!("{rel} has no tensor `{name}`"))
}
