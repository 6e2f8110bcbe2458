//! Stage 3, check: shapes through the layers, names, and the budgets.

mod budget;
mod names;
mod shapes;

pub use budget::{Figures, check_budgets};
pub use names::check_names;
pub use shapes::{Node, Resolved, infer_shapes};

/// `[16, 5, 5]`
pub fn fmt_shape(dims: &[u64]) -> String {
    let parts: Vec<String> = dims.iter().map(u64::to_string).collect();
    format!("[{}]", parts.join(", "))
}

/// A shape as messages show it: `` `[16, 5, 5]` ``.
pub fn code_shape(dims: &[u64]) -> String {
    format!("`{}`", fmt_shape(dims))
}

/// `61_706` as `61,706`.
pub fn fmt_count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes in the largest fitting binary unit: `23,520 B` as `22.97 KiB`.
pub fn fmt_bytes(n: u64) -> String {
    match n {
        0..1024 => format!("{n} B"),
        1024..1_048_576 => format!("{:.2} KiB", n as f64 / 1024.0),
        1_048_576..1_073_741_824 => format!("{:.2} MiB", n as f64 / 1_048_576.0),
        _ => format!("{:.2} GiB", n as f64 / 1_073_741_824.0),
    }
}
