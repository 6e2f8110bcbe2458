//! Stage 4, plan: fuses layers into steps (bias, batch norm and activation into the layer that
//! produces their input), lays out the weight buffer, and places every intermediate tensor in
//! one arena, reusing memory as soon as a tensor dies.

use crate::check::{Node, Resolved};
use crate::ir::Act;

/// Where a step reads or writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Buf {
    Input,
    Output,
    /// A range of the arena, in `f32` values.
    Arena {
        offset: u64,
        len: u64,
    },
}

#[derive(Clone, Debug)]
pub enum StepKind {
    /// A convolution, with the batch norm (node index) and activation that follow it fused in.
    Conv {
        node: usize,
        norm: Option<usize>,
        act: Option<Act>,
    },
    Linear {
        node: usize,
        norm: Option<usize>,
        act: Option<Act>,
    },
    Pool {
        node: usize,
    },
    Adaptive {
        node: usize,
    },
    /// A batch norm on its own, in place, with a following activation fused in.
    BatchNorm {
        node: usize,
        act: Option<Act>,
    },
    /// An activation on its own, in place.
    Act(Act),
    /// Softmax in place, over an axis of `len` values with `inner` values after it.
    Softmax {
        len: u64,
        inner: u64,
    },
}

impl StepKind {
    /// The node that starts the step (the producing layer of a fused group), if any.
    pub fn first_node(&self) -> Option<usize> {
        match self {
            StepKind::Conv { node, .. }
            | StepKind::Linear { node, .. }
            | StepKind::Pool { node }
            | StepKind::Adaptive { node }
            | StepKind::BatchNorm { node, .. } => Some(*node),
            StepKind::Act(_) | StepKind::Softmax { .. } => None,
        }
    }

    /// Whether the step rewrites its input instead of writing a new tensor.
    pub fn in_place(&self) -> bool {
        matches!(
            self,
            StepKind::BatchNorm { .. } | StepKind::Act(_) | StepKind::Softmax { .. }
        )
    }
}

#[derive(Clone, Debug)]
pub struct Step {
    pub kind: StepKind,
    /// The node whose output the step produces (the last fused one).
    pub last_node: usize,
    pub src: Buf,
    pub dst: Buf,
}

/// A state_dict tensor's place in the weight buffer.
pub struct TensorSlot {
    pub key: String,
    pub shape: Vec<u64>,
    pub offset: u64,
}

pub struct Plan {
    pub steps: Vec<Step>,
    /// The arena, in `f32` values.
    pub arena_len: u64,
    /// Sum of the live tensors at the busiest step: no plan needs less.
    pub lower_bound: u64,
    /// One buffer per intermediate tensor, as a naive runtime would allocate.
    pub naive: u64,
    /// Nodes whose output tensors are live at the busiest step, with their sizes.
    pub peak_tensors: Vec<(usize, u64)>,
    pub tensors: Vec<TensorSlot>,
    /// Per node: offset of its derived batch-norm values (`scale` then `shift`, `C` each).
    pub norm_slots: Vec<Option<u64>>,
    pub weights_len: u64,
    /// Whether the network's result is its input unchanged (no step writes the output).
    pub copy_through: bool,
}

impl Plan {
    /// Offset of a node's tensor `suffix` (`weight`, `bias`, ...).
    pub fn tensor(&self, nodes: &[Node], node: usize, suffix: &str) -> Option<u64> {
        let key = format!("{}.{suffix}", nodes[node].layer.name.as_ref()?);
        self.tensors.iter().find(|t| t.key == key).map(|t| t.offset)
    }
}

struct Tensor {
    len: u64,
    def: usize,
    last: usize,
    node: usize,
    offset: u64,
}

pub fn plan(nodes: &[Node]) -> Plan {
    let steps = fuse(nodes);
    let (steps, tensors, copy_through) = assign_buffers(steps, nodes);
    let placed = place(tensors);
    let arena_len = placed.iter().map(|t| t.offset + t.len).max().unwrap_or(0);
    let naive = placed.iter().map(|t| t.len).sum();
    let mut lower_bound = 0;
    let mut peak_tensors = Vec::new();
    for i in 0..steps.len() {
        let live: Vec<&Tensor> = placed
            .iter()
            .filter(|t| t.def <= i && i <= t.last)
            .collect();
        let sum: u64 = live.iter().map(|t| t.len).sum();
        if sum > lower_bound {
            lower_bound = sum;
            peak_tensors = live.iter().map(|t| (t.node, t.len)).collect();
        }
    }
    let steps = steps
        .into_iter()
        .map(|(kind, last_node, src, dst)| {
            let resolve = |b: Slot| match b {
                Slot::Input => Buf::Input,
                Slot::Output => Buf::Output,
                Slot::Tensor(t) => Buf::Arena {
                    offset: placed[t].offset,
                    len: placed[t].len,
                },
            };
            Step {
                kind,
                last_node,
                src: resolve(src),
                dst: resolve(dst),
            }
        })
        .collect();
    let (tensors, norm_slots, weights_len) = lay_out_weights(nodes);
    Plan {
        steps,
        arena_len,
        lower_bound,
        naive,
        peak_tensors,
        tensors,
        norm_slots,
        weights_len,
        copy_through,
    }
}

/// Groups nodes into steps. Flatten, Dropout and Identity change nothing in memory and vanish.
fn fuse(nodes: &[Node]) -> Vec<(StepKind, usize)> {
    let work: Vec<usize> = (0..nodes.len())
        .filter(|&i| !matches!(nodes[i].op, Resolved::Flatten { .. } | Resolved::Identity))
        .collect();
    let mut steps = Vec::new();
    let mut k = 0;
    while k < work.len() {
        let i = work[k];
        let next = |j: usize| work.get(j).map(|&n| (n, &nodes[n].op));
        k += 1;
        let step = match &nodes[i].op {
            Resolved::Conv { .. } | Resolved::Linear { .. } => {
                let mut last = i;
                let norm = match next(k) {
                    Some((n, Resolved::BatchNorm { .. })) => {
                        k += 1;
                        last = n;
                        Some(n)
                    }
                    _ => None,
                };
                let act = match next(k) {
                    Some((n, Resolved::Act(a))) => {
                        k += 1;
                        last = n;
                        Some(*a)
                    }
                    _ => None,
                };
                let kind = if matches!(nodes[i].op, Resolved::Conv { .. }) {
                    StepKind::Conv { node: i, norm, act }
                } else {
                    StepKind::Linear { node: i, norm, act }
                };
                (kind, last)
            }
            Resolved::BatchNorm { .. } => match next(k) {
                Some((n, Resolved::Act(a))) => {
                    k += 1;
                    (
                        StepKind::BatchNorm {
                            node: i,
                            act: Some(*a),
                        },
                        n,
                    )
                }
                _ => (StepKind::BatchNorm { node: i, act: None }, i),
            },
            Resolved::Pool { .. } => (StepKind::Pool { node: i }, i),
            Resolved::Adaptive { .. } => (StepKind::Adaptive { node: i }, i),
            Resolved::Act(a) => (StepKind::Act(*a), i),
            Resolved::Softmax { axis, .. } => {
                let shape = &nodes[i].input;
                (
                    StepKind::Softmax {
                        len: shape[*axis],
                        inner: shape[axis + 1..].iter().product(),
                    },
                    i,
                )
            }
            Resolved::Flatten { .. } | Resolved::Identity => unreachable!("filtered out above"),
        };
        steps.push(step);
    }
    steps
}

#[derive(Clone, Copy, PartialEq)]
enum Slot {
    Input,
    Output,
    Tensor(usize),
}

type Assigned = (StepKind, usize, Slot, Slot);

/// Decides each step's source and destination. A step that writes a new tensor writes the
/// output if no later step writes a new tensor, else a fresh arena tensor; a step that works in
/// place does so on the current tensor, after a copy if that is the (read-only) input.
fn assign_buffers(
    steps: Vec<(StepKind, usize)>,
    nodes: &[Node],
) -> (Vec<Assigned>, Vec<Tensor>, bool) {
    let last_writer = steps.iter().rposition(|(k, _)| !k.in_place());
    let mut tensors: Vec<Tensor> = Vec::new();
    let mut current = Slot::Input;
    let mut out = Vec::new();
    for (i, (kind, last_node)) in steps.into_iter().enumerate() {
        let src = current;
        if let Slot::Tensor(t) = src {
            tensors[t].last = i;
        }
        let dst = if kind.in_place() && src != Slot::Input {
            src
        } else if last_writer.is_none_or(|w| i >= w) {
            Slot::Output
        } else {
            let len = nodes[last_node].output.iter().product();
            tensors.push(Tensor {
                len,
                def: i,
                last: i,
                node: kind.first_node().unwrap_or(last_node),
                offset: 0,
            });
            Slot::Tensor(tensors.len() - 1)
        };
        current = dst;
        out.push((kind, last_node, src, dst));
    }
    (out, tensors, current == Slot::Input)
}

/// Greedy by size (as TensorFlow Lite Micro's planner): the largest tensor first, each at the
/// lowest offset where it overlaps no already placed tensor that is live at the same time.
fn place(mut tensors: Vec<Tensor>) -> Vec<Tensor> {
    let mut order: Vec<usize> = (0..tensors.len()).collect();
    order.sort_by_key(|&t| (std::cmp::Reverse(tensors[t].len), tensors[t].def));
    let mut placed: Vec<usize> = Vec::new();
    for t in order {
        let mut busy: Vec<(u64, u64)> = placed
            .iter()
            .map(|&p| &tensors[p])
            .filter(|p| p.def <= tensors[t].last && tensors[t].def <= p.last)
            .map(|p| (p.offset, p.offset + p.len))
            .collect();
        busy.sort();
        let mut offset = 0;
        for (start, end) in busy {
            if offset + tensors[t].len <= start {
                break;
            }
            offset = offset.max(end);
        }
        tensors[t].offset = offset;
        placed.push(t);
    }
    tensors
}

/// The weight buffer: every state_dict tensor in declaration order, then per batch norm its
/// derived `scale` and `shift`.
fn lay_out_weights(nodes: &[Node]) -> (Vec<TensorSlot>, Vec<Option<u64>>, u64) {
    let mut offset = 0;
    let mut slots = Vec::new();
    for node in nodes {
        for (suffix, shape) in &node.tensors {
            let name = node
                .layer
                .name
                .as_ref()
                .map_or_else(String::new, |n| n.to_string());
            slots.push(TensorSlot {
                key: format!("{name}.{suffix}"),
                shape: shape.clone(),
                offset,
            });
            offset += shape.iter().product::<u64>();
        }
    }
    let mut norm_slots = Vec::new();
    for node in nodes {
        if let Resolved::BatchNorm { channels, .. } = node.op {
            norm_slots.push(Some(offset));
            offset += 2 * channels;
        } else {
            norm_slots.push(None);
        }
    }
    (slots, norm_slots, offset)
}

#[cfg(test)]
mod tests {
    use super::{Tensor, place};

    fn t(len: u64, def: usize, last: usize) -> Tensor {
        Tensor {
            len,
            def,
            last,
            node: 0,
            offset: 0,
        }
    }

    #[test]
    fn a_chain_ping_pongs_between_two_regions() {
        // conv1 out (4704) -> pool1 out (1176) -> conv2 out (1600) -> pool2 out (400)
        let placed = place(vec![
            t(4704, 0, 1),
            t(1176, 1, 2),
            t(1600, 2, 3),
            t(400, 3, 4),
        ]);
        let end = placed.iter().map(|t| t.offset + t.len).max().unwrap();
        assert_eq!(end, 4704 + 1176);
    }

    #[test]
    fn tensors_live_together_never_overlap() {
        // A deterministic pseudo-random family of lifetimes and sizes.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        };
        for _ in 0..500 {
            let n = 1 + next(12) as usize;
            let tensors: Vec<Tensor> = (0..n)
                .map(|_| {
                    let def = next(10) as usize;
                    t(1 + next(100), def, def + next(4) as usize)
                })
                .collect();
            let placed = place(tensors);
            for a in &placed {
                for b in &placed {
                    if std::ptr::eq(a, b) || a.last < b.def || b.last < a.def {
                        continue;
                    }
                    assert!(a.offset + a.len <= b.offset || b.offset + b.len <= a.offset);
                }
            }
        }
    }
}
