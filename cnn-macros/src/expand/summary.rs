//! The summary table: per layer its output shape, parameters, MACs and activation bytes.

use crate::check::{Figures, Node, fmt_bytes, fmt_count, fmt_shape};
use crate::ir::Network;
use crate::plan::Plan;
use crate::syntax::BudgetKey;

pub fn summary(net: &Network, nodes: &[Node], plan: &Plan, figures: &Figures) -> String {
    let mut rows = vec![[
        "layer".to_string(),
        "kind".to_string(),
        "output".to_string(),
        "params".to_string(),
        "MACs".to_string(),
        "activations".to_string(),
    ]];
    if let Some(input) = &net.input {
        let bytes = 4 * input.dims.iter().product::<u64>();
        rows.push([
            "input".into(),
            String::new(),
            fmt_shape(&input.dims),
            String::new(),
            String::new(),
            fmt_bytes(bytes),
        ]);
    }
    for n in nodes {
        let name = n.path.clone().unwrap_or_else(|| "-".to_string());
        let bytes = 4 * n.output.iter().product::<u64>();
        rows.push([
            name,
            n.kind.clone(),
            fmt_shape(&n.output),
            fmt_count(n.params),
            fmt_count(n.macs),
            fmt_bytes(bytes),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = format!("{}\n", net.decl.name);
    for (i, row) in rows.iter().enumerate() {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let pad = widths[c] - cell.chars().count();
            if c < 3 {
                line.push_str(cell);
                line.push_str(&" ".repeat(pad + 2));
            } else {
                line.push_str(&" ".repeat(pad + 2));
                line.push_str(cell);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
        if i == 0 {
            out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 12));
            out.push('\n');
        }
    }
    let budget = |key: BudgetKey| {
        net.decl
            .budget
            .as_ref()
            .and_then(|b| b.items.iter().find(|i| i.key == key))
            .map(|i| {
                format!(
                    " (budget {}, {:.1}% used)",
                    if key.is_bytes() {
                        fmt_bytes(i.limit)
                    } else {
                        fmt_count(i.limit)
                    },
                    100.0 * figures.get(key) as f64 / i.limit.max(1) as f64
                )
            })
            .unwrap_or_default()
    };
    out.push_str(&format!(
        "params:  {}{}\n",
        fmt_count(figures.params),
        budget(BudgetKey::Params)
    ));
    out.push_str(&format!(
        "MACs:    {}{}\n",
        fmt_count(figures.macs),
        budget(BudgetKey::Macs)
    ));
    out.push_str(&format!(
        "weights: {}{}\n",
        fmt_bytes(figures.weight_bytes),
        budget(BudgetKey::Weights)
    ));
    out.push_str(&format!(
        "memory:  {} arena{} (one buffer per tensor: {}; live at the peak: {})\n",
        fmt_bytes(figures.arena_bytes),
        budget(BudgetKey::Memory),
        fmt_bytes(4 * plan.naive),
        fmt_bytes(4 * plan.lower_bound)
    ));
    let t = &figures.train;
    out.push_str(&format!(
        "train:   {} for a batch of {}{} (kept activations {}, their gradients {}, parameter gradients {}, Adam state {}{})\n",
        fmt_bytes(t.bytes()),
        figures.train_batch,
        budget(BudgetKey::TrainMemory),
        fmt_bytes(4 * (t.activations + t.scratch)),
        fmt_bytes(4 * t.activation_grads),
        fmt_bytes(4 * t.grads),
        fmt_bytes(4 * t.state),
        match figures.frozen {
            0 => String::new(),
            1 => "; 1 layer frozen".to_string(),
            n => format!("; {n} layers frozen"),
        }
    ));
    let fused: Vec<String> = plan
        .steps
        .iter()
        .map(|s| s.kind.fused_nodes(s.last_node))
        .filter(|group| group.len() > 1)
        .map(|group| {
            let parts: Vec<String> = group
                .iter()
                .map(|&i| {
                    nodes[i]
                        .path
                        .clone()
                        .unwrap_or_else(|| nodes[i].kind.clone())
                })
                .collect();
            parts.join("+")
        })
        .collect();
    if !fused.is_empty() {
        out.push_str(&format!("fused:   {}\n", fused.join(", ")));
    }
    out
}

/// A name for each step of the forward pass (`Network::STEPS`): the state_dict prefix of the
/// step's first layer (`-` for a layer without one), the kinds of the layers it computes, and
/// its output shape, e.g. `layer1.0.conv1 Conv2d+BatchNorm2d+ReLU [16, 32, 32]`.
pub fn step_names(nodes: &[Node], plan: &Plan) -> Vec<String> {
    plan.steps
        .iter()
        .map(|s| {
            let group = s.kind.fused_nodes(s.last_node);
            let kinds: Vec<&str> = group.iter().map(|&i| nodes[i].kind.as_str()).collect();
            let path = group
                .first()
                .and_then(|&i| nodes[i].path.as_deref())
                .unwrap_or("-");
            format!(
                "{path} {} {}",
                kinds.join("+"),
                fmt_shape(&nodes[s.last_node].output)
            )
        })
        .collect()
}
