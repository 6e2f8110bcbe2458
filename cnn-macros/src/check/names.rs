use crate::ctxt::Ctxt;
use crate::ir::{Network, Op};

/// Names are state_dict keys: a layer with weights needs one to load them, and two layers with
/// one name would read the same tensors. Rejects `Conv2d(6, 5)` without a name and
/// `conv1: ..., conv1: ...`.
pub fn check_names(net: &Network, cx: &mut Ctxt) {
    for (i, layer) in net.layers.iter().enumerate() {
        let weighted = matches!(layer.op, Op::Conv(_) | Op::Linear(_) | Op::BatchNorm(_));
        match &layer.name {
            None if weighted => cx.error(
                layer.kind.span(),
                format!(
                    "`{}` (layer {}) has weights and needs a name, its key in the state_dict (hint: `{}{}: {}(..)`)",
                    layer.kind,
                    i + 1,
                    default_prefix(&layer.kind.to_string()),
                    i + 1,
                    layer.kind
                ),
            ),
            Some(name) => {
                if let Some(first) = net.layers[..i]
                    .iter()
                    .filter_map(|l| l.name.as_ref())
                    .find(|n| *n == name)
                {
                    let mut e = syn::Error::new(
                        name.span(),
                        format!("the name `{name}` is used twice (hint: each layer's tensors need their own state_dict key)"),
                    );
                    e.combine(syn::Error::new(first.span(), format!("`{name}` first used here")));
                    cx.push(e);
                }
            }
            None => {}
        }
    }
}

fn default_prefix(kind: &str) -> &'static str {
    match kind {
        k if k.starts_with("Conv") => "conv",
        k if k.starts_with("BatchNorm") => "bn",
        _ => "fc",
    }
}
