use proc_macro2::Span;

use super::{Bound, Checked, LAYERS, signature};
use crate::ctxt::Ctxt;
use crate::syntax::{Value, ValueKind};

/// Typed access to a layer's bound arguments, recording every problem.
pub(super) struct Args<'a, 'c> {
    pub(super) bound: &'a Bound<'a>,
    pub(super) cx: &'c mut Ctxt,
    pub(super) span: Span,
}

impl Args<'_, '_> {
    pub(super) fn refuse(&mut self, name: &str, msg: &str) {
        let span = self.bound.get(name).map_or(self.span, |v| v.span);
        self.cx.error(span, msg);
    }

    pub(super) fn missing(&mut self, name: &str) {
        let layer = &self.bound.layer;
        let Some(&(_, family, dims)) = LAYERS.iter().find(|(n, _, _)| n == layer) else {
            return;
        };
        let (positional, _) = signature(family, dims);
        let required: Vec<&str> = positional
            .iter()
            .copied()
            .take_while(|p| {
                matches!(
                    *p,
                    "out_channels" | "kernel_size" | "out_features" | "output_size"
                )
            })
            .collect();
        self.cx.error(
            self.span,
            format!(
                "`{layer}` needs `{name}` (hint: `{layer}({})`)",
                required.join(", ")
            ),
        );
    }

    pub(super) fn int(&mut self, name: &str, default: i64) -> i64 {
        match self.bound.get(name) {
            None => default,
            Some(Value {
                kind: ValueKind::Int(i),
                span,
            }) => match i64::try_from(*i) {
                Ok(i) => i,
                Err(_) => {
                    self.cx
                        .error(*span, format!("`{name}` does not fit in 64 bits"));
                    default
                }
            },
            Some(v) => {
                self.cx.error(
                    v.span,
                    format!("`{name}` takes an integer, found {}", v.kind.describe()),
                );
                default
            }
        }
    }

    pub(super) fn positive(&mut self, name: &str, value: &Value, min: u64) -> Option<u64> {
        match value.kind {
            ValueKind::Int(i) if i >= i128::from(min) && i <= i128::from(u64::MAX) => {
                Some(i as u64)
            }
            ValueKind::Int(i) => {
                let rule = if min == 0 {
                    "must not be negative"
                } else {
                    "must be positive"
                };
                self.cx
                    .error(value.span, format!("`{name}` {rule}, found `{i}`"));
                None
            }
            ref other => {
                self.cx.error(
                    value.span,
                    format!("`{name}` takes an integer, found {}", other.describe()),
                );
                None
            }
        }
    }

    /// A positive count, or `default` when absent.
    pub(super) fn count(&mut self, name: &str, default: Option<u64>) -> Option<u64> {
        match self.bound.get(name) {
            None => {
                if default.is_none() {
                    self.missing(name);
                }
                default
            }
            Some(v) => self.positive(name, v, 1),
        }
    }

    /// A size per spatial axis: an integer for all axes or a tuple of `dims` integers, each at
    /// least `min`; `default` for all axes when absent.
    pub(super) fn sizes(
        &mut self,
        name: &str,
        dims: usize,
        default: Option<u64>,
        min: u64,
    ) -> Option<Vec<u64>> {
        match self.bound.get(name) {
            None => {
                if default.is_none() {
                    self.missing(name);
                }
                default.map(|d| vec![d; dims])
            }
            Some(Value {
                kind: ValueKind::Tuple(items),
                span,
            }) => {
                if items.len() != dims {
                    self.cx.error(
                        *span,
                        format!(
                            "`{name}` of `{}` takes {dims} size{}, found {}",
                            self.bound.layer,
                            if dims == 1 { "" } else { "s" },
                            items.len()
                        ),
                    );
                    return None;
                }
                let values: Vec<Option<u64>> =
                    items.iter().map(|v| self.positive(name, v, min)).collect();
                values.into_iter().collect()
            }
            Some(v) => self.positive(name, v, min).map(|x| vec![x; dims]),
        }
    }

    /// Like `sizes`, where `None` entries keep the input's size (adaptive pools).
    pub(super) fn optional_sizes(&mut self, name: &str, dims: usize) -> Option<Vec<Option<u64>>> {
        match self.bound.get(name) {
            None => {
                self.missing(name);
                None
            }
            Some(Value {
                kind: ValueKind::None,
                ..
            }) => Some(vec![None; dims]),
            Some(Value {
                kind: ValueKind::Tuple(items),
                span,
            }) => {
                if items.len() != dims {
                    self.cx.error(
                        *span,
                        format!(
                            "`{name}` of `{}` takes {dims} size{}, found {}",
                            self.bound.layer,
                            if dims == 1 { "" } else { "s" },
                            items.len()
                        ),
                    );
                    return None;
                }
                let mut out = Vec::new();
                for v in items {
                    match v.kind {
                        ValueKind::None => out.push(None),
                        _ => out.push(Some(self.positive(name, v, 1)?)),
                    }
                }
                Some(out)
            }
            Some(v) => self.positive(name, v, 1).map(|x| vec![Some(x); dims]),
        }
    }

    pub(super) fn boolean(&mut self, name: &str, default: bool) -> bool {
        match self.bound.get(name) {
            None => default,
            Some(Value {
                kind: ValueKind::Bool(b),
                ..
            }) => *b,
            Some(v) => {
                self.cx.error(
                    v.span,
                    format!(
                        "`{name}` takes `true` or `false`, found {}",
                        v.kind.describe()
                    ),
                );
                default
            }
        }
    }

    pub(super) fn float(&mut self, name: &str, default: f64) -> f64 {
        match self.bound.get(name) {
            None => default,
            Some(Value {
                kind: ValueKind::Float(f),
                ..
            }) => *f,
            Some(Value {
                kind: ValueKind::Int(i),
                ..
            }) => *i as f64,
            Some(v) => {
                self.cx.error(
                    v.span,
                    format!("`{name}` takes a number, found {}", v.kind.describe()),
                );
                default
            }
        }
    }

    /// An input size the author may write to have it checked.
    pub(super) fn checked(&mut self, name: &str) -> Option<Checked> {
        let v = self.bound.get(name)?;
        self.positive(name, v, 1).map(|value| Checked {
            value,
            span: v.span,
        })
    }
}
