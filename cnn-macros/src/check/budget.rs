use super::train::TrainFigures;
use super::{Node, fmt_bytes, fmt_count};
use crate::ctxt::Ctxt;
use crate::plan::Plan;
use crate::syntax::{Budget, BudgetKey};

/// The network's figures that budgets limit.
pub struct Figures {
    pub params: u64,
    pub macs: u64,
    pub weight_bytes: u64,
    pub arena_bytes: u64,
    /// Layers frozen by `#[frozen]` (a prefix).
    pub frozen: usize,
    /// The batch `train` is for.
    pub train_batch: u64,
    pub train: TrainFigures,
}

impl Figures {
    pub fn of(nodes: &[Node], plan: &Plan, frozen: usize, train_batch: u64) -> Option<Figures> {
        let sum =
            |f: &dyn Fn(&Node) -> u64| nodes.iter().try_fold(0u64, |a, n| a.checked_add(f(n)));
        let stored = plan
            .tensors
            .iter()
            .try_fold(0u64, |a, t| a.checked_add(t.shape.iter().product()))?;
        Some(Figures {
            params: sum(&|n| n.params)?,
            macs: sum(&|n| n.macs)?,
            weight_bytes: stored.checked_mul(4)?,
            arena_bytes: plan.arena_len.checked_mul(4)?,
            frozen,
            train_batch,
            train: {
                let t = TrainFigures::of(nodes, plan, frozen, train_batch)?;
                t.len().checked_mul(4)?;
                t
            },
        })
    }

    pub fn get(&self, key: BudgetKey) -> u64 {
        match key {
            BudgetKey::Params => self.params,
            BudgetKey::Macs => self.macs,
            BudgetKey::Weights => self.weight_bytes,
            BudgetKey::Memory => self.arena_bytes,
            BudgetKey::TrainMemory => self.train.bytes(),
        }
    }
}

/// A budget is the author's promise about the deployed network (it fits the device's flash or
/// RAM, it runs in time); a network over it must not compile. Rejects `params <= 60_000` on a
/// LeNet-5 with 61,706 parameters, naming the layers that weigh most.
pub fn check_budgets(
    budget: &Budget,
    nodes: &[Node],
    plan: &Plan,
    figures: &Figures,
    cx: &mut Ctxt,
) {
    for item in &budget.items {
        let value = figures.get(item.key);
        if value <= item.limit {
            continue;
        }
        let show = |n: u64| {
            if item.key.is_bytes() {
                format!("{} bytes ({})", fmt_count(n), fmt_bytes(n))
            } else {
                fmt_count(n)
            }
        };
        let (what, contributors) = match item.key {
            BudgetKey::Params => (
                "parameters",
                top(nodes.iter().map(|n| (n.label(), n.params)), false),
            ),
            BudgetKey::Macs => (
                "multiply-accumulates",
                top(nodes.iter().map(|n| (n.label(), n.macs)), false),
            ),
            BudgetKey::Weights => (
                "of weights",
                top(
                    nodes.iter().map(|n| {
                        (
                            n.label(),
                            4 * n
                                .tensors
                                .iter()
                                .map(|t| t.1.iter().product::<u64>())
                                .sum::<u64>(),
                        )
                    }),
                    true,
                ),
            ),
            BudgetKey::Memory => (
                "of activations at its peak",
                format!(
                    "live at the peak: {}",
                    top(
                        plan.peak_tensors
                            .iter()
                            .map(|&(n, len)| (nodes[n].label(), 4 * len)),
                        true
                    )
                ),
            ),
            BudgetKey::TrainMemory => {
                let t = &figures.train;
                (
                    "to train",
                    format!(
                        "for a batch of {} with {} frozen layer{} and Adam: kept activations {}, their gradients {}, parameter gradients {}, optimiser state {}; freeze more layers with `#[frozen]` or train smaller batches",
                        figures.train_batch,
                        figures.frozen,
                        if figures.frozen == 1 { "" } else { "s" },
                        fmt_bytes(4 * (t.activations + t.scratch)),
                        fmt_bytes(4 * t.activation_grads),
                        fmt_bytes(4 * t.grads),
                        fmt_bytes(4 * t.state),
                    ),
                )
            }
        };
        let over = value - item.limit;
        cx.error(
            item.span,
            format!(
                "the network needs {} {what}, over its `{}` budget of {} by {} (hint: {})",
                show(value),
                item.key.name(),
                show(item.limit),
                show(over),
                if matches!(item.key, BudgetKey::Memory | BudgetKey::TrainMemory) {
                    contributors
                } else {
                    format!("the largest are {contributors}")
                }
            ),
        );
    }
}

/// The three largest contributions, as "`fc1` 48,120, `fc2` 10,164, `conv2` 2,416".
fn top(items: impl Iterator<Item = (String, u64)>, bytes: bool) -> String {
    let mut all: Vec<(String, u64)> = items.filter(|(_, v)| *v > 0).collect();
    all.sort_by_key(|a| std::cmp::Reverse(a.1));
    all.iter()
        .take(3)
        .map(|(l, v)| format!("{l} {}", if bytes { fmt_bytes(*v) } else { fmt_count(*v) }))
        .collect::<Vec<_>>()
        .join(", ")
}
