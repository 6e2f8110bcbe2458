//! Stage 4, plan: fuses layers into steps (batch norm and activation into the convolution or
//! linear layer before them, an activation into a residual add), lays out the weight buffer, and
//! places every intermediate tensor in one arena, reusing memory as soon as a tensor dies.

use crate::check::{Node, Resolved, Src};
use crate::ir::Act;

mod schedule;
pub use schedule::{Schedule, schedule};

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

#[derive(Clone, Debug, PartialEq)]
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
    /// A batch norm on its own, with a following activation fused in.
    BatchNorm {
        node: usize,
        act: Option<Act>,
    },
    /// An activation on its own.
    Act(Act),
    /// Softmax over an axis of `len` values with `inner` values after it.
    Softmax {
        len: u64,
        inner: u64,
    },
    /// The sum of the two inputs, then the activation.
    Add {
        node: usize,
        act: Option<Act>,
    },
    /// The inputs one after the other (channels first, so along channels).
    Concat {
        node: usize,
    },
    /// A 1×1 convolution whose output only a depthwise convolution reads, then that depthwise
    /// convolution, each with what follows it fused in (MobileNetV2's expansion and depthwise
    /// layers): one step, which the runtime runs in one pass where its kernel takes the pair,
    /// else a channel at a time through the step's scratch, one plane: the expanded tensor,
    /// six times the block's input in MobileNetV2, never takes the arena.
    ExpandDepthwise {
        expand: Fused,
        depthwise: Fused,
    },
}

/// A convolution with the batch norm and activation fused into it, as in [`StepKind::Conv`]:
/// `last` is the node whose output the part produces (the activation's, where there is one).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fused {
    pub node: usize,
    pub norm: Option<usize>,
    pub act: Option<Act>,
    pub last: usize,
}

impl Fused {
    fn nodes(&self) -> Vec<usize> {
        let mut v = vec![self.node];
        v.extend(self.norm);
        if self.act.is_some() {
            v.push(self.last);
        }
        v
    }
}

impl StepKind {
    /// The node that starts the step (the producing layer of a fused group), if any.
    pub fn first_node(&self) -> Option<usize> {
        match self {
            StepKind::Conv { node, .. }
            | StepKind::Linear { node, .. }
            | StepKind::Pool { node }
            | StepKind::Adaptive { node }
            | StepKind::BatchNorm { node, .. }
            | StepKind::Add { node, .. }
            | StepKind::Concat { node } => Some(*node),
            StepKind::ExpandDepthwise { expand, .. } => Some(expand.node),
            StepKind::Act(_) | StepKind::Softmax { .. } => None,
        }
    }

    /// The nodes the step computes, in order: the producing node, a fused batch norm, a fused
    /// activation (`last` when there is one).
    pub fn fused_nodes(&self, last: usize) -> Vec<usize> {
        match *self {
            StepKind::Conv { node, norm, act } | StepKind::Linear { node, norm, act } => {
                let mut v = vec![node];
                v.extend(norm);
                if act.is_some() {
                    v.push(last);
                }
                v
            }
            StepKind::BatchNorm { node, act } | StepKind::Add { node, act } => {
                if act.is_some() {
                    vec![node, last]
                } else {
                    vec![node]
                }
            }
            StepKind::ExpandDepthwise { expand, depthwise } => {
                let mut v = expand.nodes();
                v.extend(depthwise.nodes());
                v
            }
            _ => vec![last],
        }
    }

    /// Whether the step may rewrite its (first) input instead of writing a new tensor.
    pub fn can_work_in_place(&self) -> bool {
        matches!(
            self,
            StepKind::BatchNorm { .. }
                | StepKind::Act(_)
                | StepKind::Softmax { .. }
                | StepKind::Add { .. }
        )
    }
}

#[derive(Clone, Debug)]
pub struct Step {
    pub kind: StepKind,
    /// The node whose output the step produces (the last fused one).
    pub last_node: usize,
    pub srcs: Vec<Buf>,
    pub dst: Buf,
    /// A tensor of the step's own, which no other step reads (see [`Draft::scratch`]).
    pub scratch: Option<Buf>,
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
        let key = format!("{}.{suffix}", nodes[node].path.as_ref()?);
        self.tensors.iter().find(|t| t.key == key).map(|t| t.offset)
    }
}

/// A step before buffers: what it does, what it reads, how much it writes.
#[derive(Clone, Debug)]
pub struct Draft {
    pub kind: StepKind,
    pub last_node: usize,
    /// Values read: the network input or the output of an earlier draft (by index).
    pub inputs: Vec<Value>,
    pub out_len: u64,
    /// Values of a tensor the step may write and read while it runs, apart from its inputs and
    /// output (0 for none): an [`StepKind::ExpandDepthwise`] step's plane of its expanded
    /// tensor.
    pub scratch: u64,
}

/// A tensor value: the network input, or the output of a draft.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value {
    Input,
    Step(usize),
}

/// Where each draft writes and the tensors (arena regions) the plan needs.
pub struct Assigned {
    /// Per draft: the tensor its output lives in.
    pub out: Vec<Slot>,
    /// Per draft: the tensor of its scratch, if it has one.
    pub scratch: Vec<Option<usize>>,
    pub tensors: Vec<Tensor>,
    pub copy_through: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    Input,
    Output,
    Tensor(usize),
}

#[derive(Clone, Debug)]
pub struct Tensor {
    pub len: u64,
    pub def: usize,
    pub last: usize,
    /// The draft that created it, for messages.
    pub step: usize,
    pub offset: u64,
}

pub fn plan(nodes: &[Node], result: Src) -> Plan {
    let (drafts, final_value) = fuse(nodes, result);
    let assigned = assign(&drafts, final_value);
    let placed = place(assigned.tensors);
    let arena_len = placed.iter().map(|t| t.offset + t.len).max().unwrap_or(0);
    let naive = placed.iter().map(|t| t.len).sum();
    let mut lower_bound = 0;
    let mut peak_tensors = Vec::new();
    for i in 0..drafts.len() {
        let live: Vec<&Tensor> = placed
            .iter()
            .filter(|t| t.def <= i && i <= t.last)
            .collect();
        let sum: u64 = live.iter().map(|t| t.len).sum();
        if sum > lower_bound {
            lower_bound = sum;
            peak_tensors = live
                .iter()
                .map(|t| {
                    (
                        drafts[t.step]
                            .kind
                            .first_node()
                            .unwrap_or(drafts[t.step].last_node),
                        t.len,
                    )
                })
                .collect();
        }
    }
    let buf = |slot: Slot| match slot {
        Slot::Input => Buf::Input,
        Slot::Output => Buf::Output,
        Slot::Tensor(t) => Buf::Arena {
            offset: placed[t].offset,
            len: placed[t].len,
        },
    };
    let slot_of = |v: Value| match v {
        Value::Input => Slot::Input,
        Value::Step(s) => assigned.out[s],
    };
    let steps = drafts
        .iter()
        .enumerate()
        .map(|(i, d)| Step {
            kind: d.kind.clone(),
            last_node: d.last_node,
            srcs: d.inputs.iter().map(|&v| buf(slot_of(v))).collect(),
            dst: buf(assigned.out[i]),
            scratch: assigned.scratch[i].map(|t| buf(Slot::Tensor(t))),
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
        copy_through: assigned.copy_through,
    }
}

/// Groups nodes into drafts. Flatten, Dropout and Identity change nothing in memory and vanish;
/// a node whose single reader is a batch norm or activation takes it in.
fn fuse(nodes: &[Node], result: Src) -> (Vec<Draft>, Value) {
    let alias = |n: usize| {
        matches!(
            nodes[n].op,
            Resolved::Flatten { .. } | Resolved::Identity | Resolved::Dropout { .. }
        )
    };
    // What a source really is, through aliases.
    let resolve = |mut s: Src| {
        while let Src::Node(n) = s {
            if !alias(n) {
                break;
            }
            s = nodes[n].inputs[0];
        }
        s
    };
    let mut readers = vec![Vec::new(); nodes.len()];
    for (i, n) in nodes.iter().enumerate() {
        if alias(i) {
            continue;
        }
        for &s in &n.inputs {
            if let Src::Node(p) = resolve(s) {
                readers[p].push(i);
            }
        }
    }
    let final_node = match resolve(result) {
        Src::Node(n) => Some(n),
        Src::Input => None,
    };
    // The single reader of node `n`'s output, if that reader is of the wanted kind.
    let sole = |n: usize, want: &dyn Fn(&Resolved) -> bool| -> Option<usize> {
        if final_node == Some(n) || readers[n].len() != 1 {
            return None;
        }
        let r = readers[n][0];
        want(&nodes[r].op).then_some(r)
    };
    let is_norm = |op: &Resolved| matches!(op, Resolved::BatchNorm { .. });
    let is_act = |op: &Resolved| matches!(op, Resolved::Act(_));
    let act_of = |n: usize| match nodes[n].op {
        Resolved::Act(a) => a,
        _ => unreachable!("an activation node"),
    };
    let mut step_of = vec![None; nodes.len()];
    let mut drafts: Vec<Draft> = Vec::new();
    let mut done = vec![false; nodes.len()];
    for i in 0..nodes.len() {
        if done[i] || alias(i) {
            continue;
        }
        let mut last = i;
        // A convolution or linear layer with the batch norm and activation that alone read it.
        let fused = |node: usize| {
            let mut last = node;
            let norm = sole(last, &is_norm);
            if let Some(n) = norm {
                last = n;
            }
            let act = sole(last, &is_act).map(|a| {
                last = a;
                act_of(a)
            });
            Fused {
                node,
                norm,
                act,
                last,
            }
        };
        let mut scratch = 0;
        let kind = match &nodes[i].op {
            Resolved::Conv { .. } | Resolved::Linear { .. } => {
                let f = fused(i);
                last = f.last;
                let depthwise = (expands(&nodes[i].op) && in_registers(f.act))
                    .then(|| sole(f.last, &|op: &Resolved| is_depthwise_of(op, &nodes[i].op)))
                    .flatten()
                    .map(fused)
                    .filter(|d| in_registers(d.act));
                if let Some(d) = depthwise {
                    // One plane of the expanded tensor is the step's scratch, for where the
                    // runtime runs the two layers apart, a channel at a time.
                    scratch = nodes[f.last].output[1..].iter().product();
                    last = d.last;
                    StepKind::ExpandDepthwise {
                        expand: f,
                        depthwise: d,
                    }
                } else if matches!(nodes[i].op, Resolved::Conv { .. }) {
                    StepKind::Conv {
                        node: i,
                        norm: f.norm,
                        act: f.act,
                    }
                } else {
                    StepKind::Linear {
                        node: i,
                        norm: f.norm,
                        act: f.act,
                    }
                }
            }
            Resolved::BatchNorm { .. } | Resolved::Add => {
                let act = sole(last, &is_act).map(|a| {
                    last = a;
                    act_of(a)
                });
                if matches!(nodes[i].op, Resolved::Add) {
                    StepKind::Add { node: i, act }
                } else {
                    StepKind::BatchNorm { node: i, act }
                }
            }
            Resolved::Pool { .. } => StepKind::Pool { node: i },
            Resolved::Adaptive { .. } => StepKind::Adaptive { node: i },
            Resolved::Act(a) => StepKind::Act(*a),
            Resolved::Softmax { axis, .. } => {
                let shape = &nodes[i].input;
                StepKind::Softmax {
                    len: shape[*axis],
                    inner: shape[axis + 1..].iter().product(),
                }
            }
            Resolved::Concat => StepKind::Concat { node: i },
            Resolved::Flatten { .. } | Resolved::Identity | Resolved::Dropout { .. } => {
                unreachable!("aliases are skipped")
            }
        };
        let inputs = nodes[i]
            .inputs
            .iter()
            .map(|&s| match resolve(s) {
                Src::Input => Value::Input,
                Src::Node(p) => Value::Step(step_of[p].expect("inputs come before their readers")),
            })
            .collect();
        let d = drafts.len();
        for n in kind.fused_nodes(last) {
            done[n] = true;
            step_of[n] = Some(d);
        }
        drafts.push(Draft {
            kind,
            last_node: last,
            inputs,
            out_len: nodes[last].output.iter().product(),
            scratch,
        });
    }
    let final_value = match final_node {
        Some(n) => Value::Step(step_of[n].expect("the result is a step")),
        None => Value::Input,
    };
    (drafts, final_value)
}

/// Whether a convolution can be the first of an [`StepKind::ExpandDepthwise`] step: a layer
/// without groups over a plane, of a multiple of 16 output channels, either 1×1 of stride 1
/// without padding and at most 512 input channels, or of at most 256 input values per output
/// (a first layer: MobileNetV2's stem), stride 1 or 2 and dilation 1 (what the runtime's
/// kernel for the pair takes).
fn expands(op: &Resolved) -> bool {
    let Resolved::Conv {
        in_channels,
        out_channels,
        kernel,
        stride,
        padding,
        padding_end,
        dilation,
        groups,
        ..
    } = op
    else {
        return false;
    };
    let ones = |v: &[u64]| v.iter().all(|&x| x == 1);
    let zeros = |v: &[u64]| v.iter().all(|&x| x == 0);
    let pointwise = ones(kernel) && ones(stride) && zeros(padding) && zeros(padding_end);
    let first = in_channels * kernel.iter().product::<u64>() <= 256
        && kernel.iter().all(|&k| k <= 16)
        && stride.iter().all(|&s| s <= 2);
    kernel.len() == 2
        && ones(dilation)
        && *groups == 1
        && ((pointwise && *in_channels <= 512) || first)
        && out_channels % 16 == 0
}

/// Whether `op` is a depthwise convolution (channel multiplier 1) over the output of the 1×1
/// layer `expand` that the runtime's kernel for the pair takes: a window of at most 5 × 5,
/// stride 1 or 2, dilation 1, padding narrower than the window.
fn is_depthwise_of(op: &Resolved, expand: &Resolved) -> bool {
    let (
        Resolved::Conv {
            in_channels,
            out_channels,
            kernel,
            stride,
            padding,
            padding_end,
            dilation,
            groups,
            ..
        },
        Resolved::Conv {
            out_channels: mid, ..
        },
    ) = (op, expand)
    else {
        return false;
    };
    kernel.len() == 2
        && in_channels == mid
        && out_channels == mid
        && groups == mid
        && kernel.iter().all(|&k| k <= 5)
        && stride.iter().all(|&s| s == 1 || s == 2)
        && dilation.iter().all(|&d| d == 1)
        && padding.iter().zip(kernel).all(|(p, k)| p < k)
        && padding_end.iter().zip(kernel).all(|(p, k)| p < k)
}

/// Whether the SIMD kernels apply the activation in registers (the piecewise-linear ones).
fn in_registers(act: Option<Act>) -> bool {
    !matches!(act, Some(Act::Sigmoid | Act::Tanh))
}

/// Decides where each draft writes. A step that can work in place does so on an input that no
/// later step reads (never on the read-only network input); any other step writes a new tensor.
/// The tensor that holds the result is the caller's output buffer.
pub fn assign(drafts: &[Draft], result: Value) -> Assigned {
    // The last draft that reads each value.
    let mut last_read = vec![None; drafts.len()];
    for (i, d) in drafts.iter().enumerate() {
        for v in &d.inputs {
            if let Value::Step(s) = v {
                last_read[*s] = Some(i);
            }
        }
    }
    let mut out: Vec<Slot> = Vec::new();
    let mut scratch: Vec<Option<usize>> = Vec::new();
    let mut tensors: Vec<Tensor> = Vec::new();
    for (i, d) in drafts.iter().enumerate() {
        let reuse = d.kind.can_work_in_place().then(|| {
            d.inputs.iter().position(|v| match v {
                Value::Step(s) => {
                    last_read[*s] == Some(i)
                        && d.inputs.iter().filter(|w| *w == v).count() == 1
                        && drafts[*s].out_len == d.out_len
                }
                Value::Input => false,
            })
        });
        let slot = match reuse.flatten() {
            Some(k) => match d.inputs[k] {
                Value::Step(s) => out[s],
                Value::Input => unreachable!("the input is never rewritten"),
            },
            None => {
                tensors.push(Tensor {
                    len: d.out_len,
                    def: i,
                    last: i,
                    step: i,
                    offset: 0,
                });
                Slot::Tensor(tensors.len() - 1)
            }
        };
        out.push(slot);
        // A scratch tensor lives for its step alone, beside the step's inputs and output.
        scratch.push((d.scratch > 0).then(|| {
            tensors.push(Tensor {
                len: d.scratch,
                def: i,
                last: i,
                step: i,
                offset: 0,
            });
            tensors.len() - 1
        }));
    }
    // Lifetimes: from the step that creates a tensor to the last step that reads a value in it.
    for (i, d) in drafts.iter().enumerate() {
        for v in &d.inputs {
            if let Value::Step(s) = v
                && let Slot::Tensor(t) = out[*s]
            {
                tensors[t].last = tensors[t].last.max(i);
            }
        }
        if let Slot::Tensor(t) = out[i] {
            tensors[t].last = tensors[t].last.max(i);
        }
    }
    // The result's tensor becomes the output buffer and leaves the arena.
    let copy_through = result == Value::Input;
    let mut keep = vec![true; tensors.len()];
    if let Value::Step(s) = result
        && let Slot::Tensor(t) = out[s]
    {
        keep[t] = false;
        for slot in &mut out {
            if *slot == Slot::Tensor(t) {
                *slot = Slot::Output;
            }
        }
    }
    let mut renumber = vec![0; tensors.len()];
    let mut kept = Vec::new();
    for (t, tensor) in tensors.into_iter().enumerate() {
        if keep[t] {
            renumber[t] = kept.len();
            kept.push(tensor);
        }
    }
    for slot in &mut out {
        if let Slot::Tensor(t) = slot {
            *t = renumber[*t];
        }
    }
    for t in scratch.iter_mut().flatten() {
        *t = renumber[*t];
    }
    Assigned {
        out,
        scratch,
        tensors: kept,
        copy_through,
    }
}

/// Greedy by size (as TensorFlow Lite Micro's planner): the largest tensor first, each at the
/// lowest offset where it overlaps no already placed tensor that is live at the same time.
pub fn place(mut tensors: Vec<Tensor>) -> Vec<Tensor> {
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

/// The weight buffer: every state_dict tensor in execution order, then per batch norm its
/// derived `scale` and `shift`.
fn lay_out_weights(nodes: &[Node]) -> (Vec<TensorSlot>, Vec<Option<u64>>, u64) {
    let mut offset = 0;
    let mut slots = Vec::new();
    for node in nodes {
        for (suffix, shape) in &node.tensors {
            let name = node.path.clone().unwrap_or_default();
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
mod tests;
