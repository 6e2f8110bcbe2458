//! The memory plan on random graphs: a simulation of every step over the planned buffers checks
//! that each step finds its inputs intact, whatever the graph.

use super::{Draft, Slot, StepKind, Tensor, Value, assign, place};
use crate::ir::Act;

/// A deterministic generator (xorshift), so that failures reproduce.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// A random graph in execution order: layers that write new tensors, in-place activations,
/// residual adds and concatenations, reading recent values (as real networks do).
fn random_graph(rng: &mut Rng) -> (Vec<Draft>, Value) {
    let n = 1 + rng.below(14) as usize;
    let mut drafts: Vec<Draft> = Vec::new();
    let pick = |rng: &mut Rng, i: usize| {
        if i == 0 || rng.below(8) == 0 {
            Value::Input
        } else {
            Value::Step(i - 1 - rng.below(i.min(3) as u64) as usize)
        }
    };
    let len_of = |drafts: &[Draft], v: Value| match v {
        Value::Input => 64,
        Value::Step(s) => drafts[s].out_len,
    };
    for i in 0..n {
        let a = pick(rng, i);
        let (kind, inputs, out_len) = match rng.below(4) {
            0 => (StepKind::Pool { node: i }, vec![a], 1 + rng.below(100)),
            1 => (StepKind::Act(Act::Relu), vec![a], len_of(&drafts, a)),
            2 => {
                let b = pick(rng, i);
                (
                    StepKind::Add { node: i, act: None },
                    vec![a, b],
                    len_of(&drafts, a),
                )
            }
            _ => {
                let b = pick(rng, i);
                (
                    StepKind::Concat { node: i },
                    vec![a, b],
                    len_of(&drafts, a) + len_of(&drafts, b),
                )
            }
        };
        // A step with a tensor of its own now and then (an expansion and depthwise pair).
        let scratch = if rng.below(4) == 0 {
            1 + rng.below(100)
        } else {
            0
        };
        drafts.push(Draft {
            kind,
            last_node: i,
            inputs,
            out_len,
            scratch,
        });
    }
    let result = Value::Step(n - 1);
    (drafts, result)
}

/// Which value each arena cell (or the output) holds, step by step; every read must find its
/// value whole.
fn simulate(drafts: &[Draft], out: &[Slot], scratch: &[Option<usize>], tensors: &[Tensor]) {
    let arena_len = tensors.iter().map(|t| t.offset + t.len).max().unwrap_or(0) as usize;
    let mut arena = vec![usize::MAX; arena_len];
    let mut output = usize::MAX;
    let region = |slot: Slot| match slot {
        Slot::Tensor(t) => {
            Some(tensors[t].offset as usize..(tensors[t].offset + tensors[t].len) as usize)
        }
        _ => None,
    };
    for (i, d) in drafts.iter().enumerate() {
        // The step's scratch is written while it reads its inputs: they must stay whole.
        assert_eq!(scratch[i].is_some(), d.scratch > 0, "step {i}'s scratch");
        if let Some(t) = scratch[i] {
            let r = region(Slot::Tensor(t)).expect("a tensor");
            assert_eq!(
                r.len() as u64,
                d.scratch,
                "step {i}'s scratch is of its size"
            );
            arena[r].iter_mut().for_each(|c| *c = usize::MAX - 1);
        }
        for v in &d.inputs {
            if let Value::Step(s) = v {
                match out[*s] {
                    Slot::Output => assert_eq!(
                        output, *s,
                        "step {i} reads value {s} from the output, overwritten"
                    ),
                    slot => {
                        let r = region(slot).expect("a tensor");
                        assert!(
                            arena[r].iter().all(|&c| c == *s),
                            "step {i} reads value {s}, overwritten"
                        );
                    }
                }
            }
        }
        // ...and its output must not overwrite the scratch.
        if let (Some(t), Some(o)) = (scratch[i], region(out[i])) {
            let r = region(Slot::Tensor(t)).expect("a tensor");
            assert!(
                r.end <= o.start || o.end <= r.start,
                "step {i} writes its output over its scratch"
            );
        }
        match out[i] {
            Slot::Output => output = i,
            Slot::Input => panic!("step {i} writes the input"),
            slot => {
                let r = region(slot).expect("a tensor");
                assert_eq!(
                    r.len() as u64,
                    d.out_len,
                    "step {i} writes a tensor of the wrong size"
                );
                arena[r].iter_mut().for_each(|c| *c = i);
            }
        }
    }
}

#[test]
fn every_step_finds_its_inputs_intact_on_random_graphs() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..5000 {
        let (drafts, result) = random_graph(&mut rng);
        let assigned = assign(&drafts, result);
        let placed = place(assigned.tensors);
        if let Value::Step(s) = result {
            assert_eq!(
                assigned.out[s],
                Slot::Output,
                "the result is written to the output"
            );
        }
        simulate(&drafts, &assigned.out, &assigned.scratch, &placed);
        // No plan needs less than the live tensors at the busiest step, and reuse never costs
        // more than a buffer per tensor.
        let arena = placed.iter().map(|t| t.offset + t.len).max().unwrap_or(0);
        let busiest = (0..drafts.len())
            .map(|i| {
                placed
                    .iter()
                    .filter(|t| t.def <= i && i <= t.last)
                    .map(|t| t.len)
                    .sum::<u64>()
            })
            .max()
            .unwrap_or(0);
        assert!(arena >= busiest);
        assert!(arena <= placed.iter().map(|t| t.len).sum());
    }
}

#[test]
fn tensors_live_together_never_overlap() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for _ in 0..500 {
        let n = 1 + rng.below(12) as usize;
        let tensors: Vec<Tensor> = (0..n)
            .map(|step| {
                let def = rng.below(10) as usize;
                Tensor {
                    len: 1 + rng.below(100),
                    def,
                    last: def + rng.below(4) as usize,
                    step,
                    offset: 0,
                }
            })
            .collect();
        let placed = place(tensors);
        for (i, a) in placed.iter().enumerate() {
            for b in &placed[i + 1..] {
                if a.last < b.def || b.last < a.def {
                    continue;
                }
                assert!(a.offset + a.len <= b.offset || b.offset + b.len <= a.offset);
            }
        }
    }
}

#[test]
fn a_chain_ping_pongs_between_two_regions() {
    // conv1 (4704) -> pool1 (1176) -> conv2 (1600) -> pool2 (400) -> fc (10, the output)
    let lens = [4704, 1176, 1600, 400, 10];
    let drafts: Vec<Draft> = lens
        .iter()
        .enumerate()
        .map(|(i, &len)| Draft {
            kind: StepKind::Pool { node: i },
            last_node: i,
            inputs: vec![if i == 0 {
                Value::Input
            } else {
                Value::Step(i - 1)
            }],
            out_len: len,
            scratch: 0,
        })
        .collect();
    let assigned = assign(&drafts, Value::Step(4));
    let placed = place(assigned.tensors);
    let end = placed.iter().map(|t| t.offset + t.len).max().unwrap();
    assert_eq!(end, 4704 + 1176);
}
