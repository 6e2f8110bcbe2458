//! Stage 3, check: shapes through the layers, names, and the budgets.

mod budget;
mod graph;
mod shapes;
mod train;

pub use budget::{Figures, check_budgets};
pub use graph::{Node, Src, elaborate};
pub use shapes::Resolved;
pub use train::frozen_prefix;

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

/// Block declarations: one name each, parameters named once, and no block named like a layer
/// (the call would be ambiguous). Rejects `block BasicBlock(planes, planes)`.
pub fn check_blocks(blocks: &[crate::syntax::BlockDecl], cx: &mut crate::ctxt::Ctxt) {
    for (i, b) in blocks.iter().enumerate() {
        if let Some(first) = blocks[..i].iter().find(|o| o.name == b.name) {
            let mut e = syn::Error::new(
                b.name.span(),
                format!("block `{}` is declared twice", b.name),
            );
            e.combine(syn::Error::new(
                first.name.span(),
                format!("`{}` first declared here", first.name),
            ));
            cx.push(e);
        }
        if crate::ir::is_layer(&b.name.to_string()) {
            cx.error(
                b.name.span(),
                format!(
                    "block `{}` has the name of a layer (hint: rename the block)",
                    b.name
                ),
            );
        }
        for (j, p) in b.params.iter().enumerate() {
            if b.params[..j].iter().any(|o| o.name == p.name) {
                cx.error(
                    p.name.span(),
                    format!(
                        "parameter `{}` of block `{}` is declared twice",
                        p.name, b.name
                    ),
                );
            }
            if p.name == "in_channels" {
                cx.error(p.name.span(), "`in_channels` is the block's input channels, always there; it cannot be a parameter");
            }
        }
    }
}
