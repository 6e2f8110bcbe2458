//! Training: which layers `#[frozen]` freezes, and the memory a trainer needs, computed as the
//! runtime's `TrainLayout::of` lays its workspace out (a test holds the two equal).

use super::{Node, Resolved, Src};
use crate::ctxt::Ctxt;
use crate::plan::Plan;

/// The frozen layers: a prefix of the layers in execution order. A layer frozen after one that
/// trains is an error at its `#[frozen]`, naming the layer before it that trains.
pub fn frozen_prefix(nodes: &[Node], cx: &mut Ctxt) -> usize {
    let prefix = nodes.iter().take_while(|n| n.frozen.is_some()).count();
    if let Some(late) = nodes[prefix..].iter().find(|n| n.frozen.is_some()) {
        let at = late.frozen.unwrap_or_else(proc_macro2::Span::call_site);
        let trains = &nodes[prefix];
        cx.error(
            at,
            format!(
                "`#[frozen]` freezes {} but {} before it trains: frozen layers are the first ones, a prefix of the network (hint: freeze from the first layer on, or unfreeze {})",
                late.label(),
                trains.label(),
                late.label()
            ),
        );
    }
    prefix
}

/// `f32` values of a trainer's workspace, region by region.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrainFigures {
    pub activations: u64,
    pub scratch: u64,
    pub activation_grads: u64,
    pub stats: u64,
    pub grads: u64,
    pub state: u64,
}

impl TrainFigures {
    /// The workspace for `batch` samples with the first `frozen` layers frozen and Adam's two
    /// values of state per parameter. `None` if it overflows.
    pub fn of(nodes: &[Node], plan: &Plan, frozen: usize, batch: u64) -> Option<TrainFigures> {
        let mut f = TrainFigures::default();
        let last = nodes.len().saturating_sub(1);
        for (i, node) in nodes.iter().enumerate() {
            let len = node
                .output
                .iter()
                .try_fold(1u64, |a, &d| a.checked_mul(d))?;
            let read_by_trained = nodes[frozen.min(nodes.len())..]
                .iter()
                .any(|n| n.inputs.contains(&Src::Node(i)));
            if i >= frozen || i == last || read_by_trained {
                f.activations = f.activations.checked_add(batch.checked_mul(len)?)?;
            } else {
                f.scratch = f.scratch.checked_add(len)?;
            }
            if i >= frozen {
                f.activation_grads = f.activation_grads.checked_add(batch.checked_mul(len)?)?;
                if let Resolved::BatchNorm { channels, .. } = node.op {
                    f.stats = f.stats.checked_add(2 * channels)?;
                }
            }
        }
        let end = plan
            .tensors
            .iter()
            .map(|t| t.offset + t.shape.iter().product::<u64>())
            .max()
            .unwrap_or(0);
        let base = nodes
            .iter()
            .skip(frozen)
            .find_map(|n| {
                let path = n.path.as_ref()?;
                let (suffix, _) = n.tensors.first()?;
                plan.tensors
                    .iter()
                    .find(|t| t.key == format!("{path}.{suffix}"))
                    .map(|t| t.offset)
            })
            .unwrap_or(end);
        f.grads = end - base;
        f.state = f.grads.checked_mul(2)?;
        Some(f)
    }

    /// Values of the whole workspace.
    pub fn len(&self) -> u64 {
        self.activations
            + self.scratch
            + self.activation_grads
            + self.stats
            + self.grads
            + self.state
    }

    pub fn bytes(&self) -> u64 {
        4 * self.len()
    }
}
