//! The order of a batch's work: which steps run layer by layer over a group of inputs (each
//! reading its weights once for the group), which image by image (each image's activations
//! kept in cache from one step to the next), and how many inputs make a group.

use super::{Buf, Plan, StepKind};
use crate::check::{Node, Src};

/// Bytes the arenas of one group may take together.
const GROUP_BYTES: u64 = 32 << 20;

/// Most inputs in a group (the runtime's `MOST_GROUP`).
const MOST_GROUP: u64 = 16;

/// How a batch runs: per step, whether it goes layer by layer over the group; and the
/// group's size (`Network::GROUP`).
#[derive(Debug, PartialEq)]
pub struct Schedule {
    pub layer_major: Vec<bool>,
    pub group: u64,
}

/// A step goes layer by layer where its weights outweigh what it reads and writes for one
/// input: run image by image, it would read the weights from memory once per input (a
/// classifier's 5 MB for 5 KB of activations), while its activations, image by image, stay in
/// cache. A step without weights (a pool, an add, an activation) follows the step before it,
/// so that it does not split a run of layers. The group is as many inputs as have arenas in
/// [`GROUP_BYTES`], at most [`MOST_GROUP`]; 1 where no step goes layer by layer.
pub fn schedule(nodes: &[Node], plan: &Plan, arena_bytes: u64) -> Schedule {
    let mut layer_major = Vec::with_capacity(plan.steps.len());
    let mut previous = false;
    for step in &plan.steps {
        let group = step.kind.fused_nodes(step.last_node);
        let weights: u64 = group
            .iter()
            .flat_map(|&i| &nodes[i].tensors)
            .map(|(_, shape)| 4 * shape.iter().product::<u64>())
            .sum();
        // An expansion and depthwise pair runs image by image (each image's expanded tensor
        // is computed piece by piece in cache).
        let here = if matches!(step.kind, StepKind::ExpandDepthwise { .. }) {
            false
        } else if weights == 0 {
            previous
        } else {
            let node = step.kind.first_node().unwrap_or(step.last_node);
            let reads: u64 = (0..step.srcs.len())
                .map(|k| buf_len(nodes, node, step.srcs[k], Some(k)))
                .sum();
            let writes = buf_len(nodes, step.last_node, step.dst, None);
            weights >= 4 * (reads + writes)
        };
        layer_major.push(here);
        previous = here;
    }
    let group = if layer_major.contains(&true) {
        (GROUP_BYTES / arena_bytes.max(1)).clamp(1, MOST_GROUP)
    } else {
        1
    };
    Schedule { layer_major, group }
}

/// Values of a step's buffer: its `k`-th input (`Some(k)`) or its output (`None`) at `node`.
fn buf_len(nodes: &[Node], node: usize, buf: Buf, input: Option<usize>) -> u64 {
    match (buf, input) {
        (Buf::Arena { len, .. }, _) => len,
        (_, Some(k)) => match nodes[node].inputs[k] {
            Src::Input => nodes[node].input.iter().product(),
            Src::Node(p) => nodes[p].output.iter().product(),
        },
        (_, None) => nodes[node].output.iter().product(),
    }
}
