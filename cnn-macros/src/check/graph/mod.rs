//! Elaboration: a declaration's entries, with its blocks instantiated, groups and repetitions
//! expanded and every shape inferred, become a graph of nodes in execution order. Each node
//! knows its full state_dict name (`layer1.0.downsample.0`), its inputs and its output shape.

use std::collections::HashMap;

use proc_macro2::Span;

use super::code_shape;
use super::shapes::{At, Resolved, Tensors, cost, count};

mod blocks;
use crate::ctxt::Ctxt;
use crate::ir::{self, Network};

use crate::syntax::{BlockDecl, Entry, LayerCall, Name, NodeEntry, NodeExpr, Value, ValueKind};

/// Where a node reads a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Src {
    Input,
    Node(usize),
}

/// A layer (or an add, or a concatenation) with every size known.
pub struct Node {
    /// The layer's type as written (`Conv2d`), or `add` / `cat`.
    pub kind: String,
    /// The state_dict prefix of the layer's tensors, e.g. `layer1.0.conv1`.
    pub path: Option<String>,
    /// How messages name the node.
    pub label: String,
    pub inputs: Vec<Src>,
    /// Shape of the (first) input.
    pub input: Vec<u64>,
    pub output: Vec<u64>,
    pub op: Resolved,
    /// Trained parameters.
    pub params: u64,
    pub macs: u64,
    /// State_dict tensors: key suffix (`weight`, `running_mean`, ...) and shape.
    pub tensors: Tensors,
    /// Where `#[frozen]` freezes the node (on it or on a group holding it).
    pub frozen: Option<Span>,
}

impl Node {
    pub fn label(&self) -> String {
        self.label.clone()
    }
}

/// The tensor flowing through a body: where it is, its shape, and what produced it.
#[derive(Clone)]
struct Flow {
    src: Src,
    shape: Vec<u64>,
    from: String,
}

/// Where an entry instance stands: its full name, where the name is written, and the prefix of
/// the names inside it.
struct Site {
    path: Option<String>,
    name_span: Option<Span>,
    scope: String,
}

/// Names in scope: the block's parameters and `in_channels` (the channels entering the block, or
/// the network), to concrete values.
type Env = HashMap<String, Value>;

fn int_value(n: u64, span: Span) -> Value {
    Value {
        kind: ValueKind::Int(i128::from(n)),
        span,
    }
}

struct Elab<'a, 'c> {
    blocks: &'a [BlockDecl],
    cx: &'c mut Ctxt,
    nodes: Vec<Node>,
    /// Full names already used, with where.
    names: HashMap<String, Span>,
    /// Blocks being instantiated, innermost last, to refuse recursion.
    stack: Vec<String>,
    /// Position among the top-level entries, for labels of unnamed layers.
    position: usize,
}

/// Builds the graph of a network. Returns the nodes and the final tensor if every shape is known
/// and fits; records every problem in `cx`.
pub fn elaborate(net: &Network, blocks: &[BlockDecl], cx: &mut Ctxt) -> Option<(Vec<Node>, Src)> {
    let input = net.input.as_ref()?;
    if count(&input.dims).is_none() {
        cx.error(
            input.span,
            format!(
                "the input shape {} overflows: its size does not fit in 64 bits",
                code_shape(&input.dims)
            ),
        );
        return None;
    }
    let mut elab = Elab {
        blocks,
        cx,
        nodes: Vec::new(),
        names: HashMap::new(),
        stack: Vec::new(),
        position: 0,
    };
    let flow = Flow {
        src: Src::Input,
        shape: input.dims.clone(),
        from: "the network input".into(),
    };
    let body: Vec<&Entry> = net
        .decl
        .entries
        .iter()
        .filter(|e| matches!(e, Entry::Node(_)))
        .collect();
    let env = Env::from([(
        "in_channels".to_string(),
        int_value(input.dims[0], input.span),
    )]);
    let out = elab.entries(&body, false, "", &env, Some(flow), true);
    let out = out?;
    if let Some(declared) = &net.output
        && declared.dims != out.shape
    {
        elab.cx.error(
            declared.span,
            format!(
                "the declared output {} does not match the network's output {} (from {})",
                code_shape(&declared.dims),
                code_shape(&out.shape),
                out.from
            ),
        );
    }
    Some((elab.nodes, out.src))
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

impl Elab<'_, '_> {
    /// Runs `entries` on `flow`. `numbered` names children 0, 1, ... as `nn.Sequential` does.
    /// With `flow` None (an earlier error), the entries are still checked for what needs no shape.
    fn entries(
        &mut self,
        entries: &[&Entry],
        numbered: bool,
        prefix: &str,
        env: &Env,
        mut flow: Option<Flow>,
        top: bool,
    ) -> Option<Flow> {
        let mut index = 0u64;
        for entry in entries {
            let node = match entry {
                Entry::Node(node) => node,
                Entry::Shape { key, span, .. } => {
                    self.cx.error(*span, format!("`{key}: [..]` belongs at the start or the end of a network, not inside a group or block"));
                    flow = None;
                    continue;
                }
            };
            if top {
                self.position += 1;
            }
            let names = self.instance_names(node, numbered, &mut index);
            let first = self.nodes.len();
            for name in names {
                let path = name.map(|n| join(prefix, &n));
                flow = self.expr(&node.expr, path, name_span(node), prefix, env, flow, top);
            }
            if let Some(at) = node.frozen {
                for n in &mut self.nodes[first..] {
                    n.frozen.get_or_insert(at);
                }
            }
        }
        flow
    }

    /// The names of an entry's instances (one per repetition), or `None` for unnamed ones.
    fn instance_names(
        &mut self,
        node: &NodeEntry,
        numbered: bool,
        index: &mut u64,
    ) -> Vec<Option<String>> {
        let repeat = node.repeat.map_or(1, |(n, _)| n);
        if let Some((0, span)) = node.repeat {
            self.cx.error(
                span,
                "an entry repeated 0 times is no entry (hint: remove it)",
            );
            return Vec::new();
        }
        match &node.name {
            Some(Name::Range {
                prefix,
                first,
                last,
            }) => {
                if node.repeat.is_some() {
                    self.cx.error(
                        prefix.span(),
                        "a range name already repeats its entry; drop the `* n`",
                    );
                }
                if first > last {
                    self.cx.error(
                        prefix.span(),
                        format!("the range `{first}..={last}` is empty"),
                    );
                }
                (*first..=*last)
                    .map(|i| Some(format!("{prefix}{i}")))
                    .collect()
            }
            Some(Name::Index(i)) => {
                *index = i + repeat;
                (*i..*i + repeat).map(|i| Some(i.to_string())).collect()
            }
            Some(Name::Ident(ident)) => {
                if repeat > 1 {
                    self.cx.error(ident.span(), format!("`{ident}` names one entry but `* {repeat}` makes {repeat} (hint: repeat inside a numbered group, `{ident}: [X * {repeat}]`, or name a range, `{ident}{{1..={repeat}}}: X`)"));
                }
                *index += 1;
                vec![Some(ident.to_string())]
            }
            None if numbered => {
                let first = *index;
                *index += repeat;
                (first..first + repeat)
                    .map(|i| Some(i.to_string()))
                    .collect()
            }
            None => vec![None; repeat as usize],
        }
    }

    /// One instance of an entry: `path` is its full name, `span` where the name is written.
    #[allow(clippy::too_many_arguments)]
    fn expr(
        &mut self,
        expr: &NodeExpr,
        path: Option<String>,
        span: Option<Span>,
        prefix: &str,
        env: &Env,
        flow: Option<Flow>,
        top: bool,
    ) -> Option<Flow> {
        let scope = path.clone().unwrap_or_else(|| prefix.to_string());
        match expr {
            NodeExpr::Call(call) => {
                let site = Site {
                    path,
                    name_span: span,
                    scope: scope.clone(),
                };
                self.call(call, site, env, flow, top)
            }
            NodeExpr::Group {
                numbered, entries, ..
            } => {
                let entries: Vec<&Entry> = entries.iter().collect();
                self.entries(&entries, *numbered, &scope, env, flow, false)
            }
            NodeExpr::Residual {
                optional: residual_optional,
                main,
                shortcut,
                span,
            } => {
                let main: Vec<&Entry> = main.iter().collect();
                let through = self.entries(&main, false, &scope, env, flow.clone(), false);
                let (flow, through) = (flow?, through?);
                let short = match shortcut {
                    Some(s) if !(s.optional && through.shape == flow.shape) => {
                        let mut index = 0;
                        let names = self.instance_names(s, false, &mut index);
                        let mut f = Some(flow.clone());
                        for name in names {
                            let p = name.map(|n| join(&scope, &n));
                            f = self.expr(&s.expr, p, name_span(s), &scope, env, f, false);
                        }
                        f?
                    }
                    _ => flow.clone(),
                };
                let here = path.as_deref().unwrap_or(prefix);
                let label = if here.is_empty() {
                    "the residual connection".to_string()
                } else {
                    format!("the residual connection of `{here}`")
                };
                if through.shape != short.shape {
                    if *residual_optional {
                        return Some(through);
                    }
                    let hint = if shortcut.is_none() {
                        format!(
                            " (hint: give the shortcut a projection, e.g. `+ downsample?: [Conv2d({}, 1, {}, bias = false), BatchNorm2d]`)",
                            through.shape[0],
                            stride_hint(&flow.shape, &through.shape)
                        )
                    } else {
                        String::new()
                    };
                    self.cx.error(*span, format!(
                        "the two paths of {label} do not fit: the main path gives {} (from {}), the shortcut {} (from {}){hint}",
                        code_shape(&through.shape), through.from, code_shape(&short.shape), short.from
                    ));
                    return None;
                }
                Some(self.push(
                    Node {
                        kind: "add".into(),
                        path: None,
                        label: label.clone(),
                        inputs: vec![through.src, short.src],
                        input: through.shape.clone(),
                        output: through.shape.clone(),
                        op: Resolved::Add,
                        params: 0,
                        macs: 0,
                        tensors: Vec::new(),
                        frozen: None,
                    },
                    label,
                ))
            }
            NodeExpr::Cat { branches, span } => {
                let mut outs = Vec::new();
                let mut index = 0u64;
                for branch in branches {
                    let Entry::Node(node) = branch else {
                        self.cx.error(
                            *span,
                            "a `cat` branch is a layer, block or group, not a shape",
                        );
                        return None;
                    };
                    let mut f = flow.clone();
                    for name in self.instance_names(node, false, &mut index) {
                        let p = name.map(|n| join(&scope, &n));
                        f = self.expr(&node.expr, p, name_span(node), &scope, env, f, false);
                    }
                    outs.push(f);
                }
                let outs: Vec<Flow> = outs.into_iter().collect::<Option<_>>()?;
                let first = outs.first()?;
                if let Some(bad) = outs.iter().find(|o| {
                    o.shape.len() != first.shape.len() || o.shape[1..] != first.shape[1..]
                }) {
                    self.cx.error(*span, format!(
                        "the branches of `cat` do not fit: {} gives {} and {} gives {} (hint: all but the channels must agree)",
                        first.from, code_shape(&first.shape), bad.from, code_shape(&bad.shape)
                    ));
                    return None;
                }
                let channels = outs
                    .iter()
                    .try_fold(0u64, |a, o| a.checked_add(o.shape[0]))?;
                let mut shape = first.shape.clone();
                shape[0] = channels;
                let here = path.as_deref().unwrap_or(prefix);
                let label = if here.is_empty() {
                    "`cat`".to_string()
                } else {
                    format!("the `cat` of `{here}`")
                };
                Some(self.push(
                    Node {
                        kind: "cat".into(),
                        path: None,
                        label: label.clone(),
                        inputs: outs.iter().map(|o| o.src).collect(),
                        input: first.shape.clone(),
                        output: shape,
                        op: Resolved::Concat,
                        params: 0,
                        macs: 0,
                        tensors: Vec::new(),
                        frozen: None,
                    },
                    label,
                ))
            }
        }
    }

    fn push(&mut self, node: Node, from: String) -> Flow {
        let shape = node.output.clone();
        self.nodes.push(node);
        Flow {
            src: Src::Node(self.nodes.len() - 1),
            shape,
            from,
        }
    }

    /// A layer, or a block instance.
    fn call(
        &mut self,
        call: &LayerCall,
        site: Site,
        env: &Env,
        flow: Option<Flow>,
        top: bool,
    ) -> Option<Flow> {
        let Site {
            path,
            name_span,
            scope,
        } = site;
        let kind = call.kind.to_string();
        let args = self.eval_args(&call.args, env);
        if let Some(block) = self.blocks.iter().find(|b| b.name == kind) {
            return self.instantiate(block, call, args?, &scope, flow);
        }
        let block_names: Vec<&str> = Vec::new();
        let names: Vec<String> = self.blocks.iter().map(|b| b.name.to_string()).collect();
        let mut block_names = block_names;
        block_names.extend(names.iter().map(String::as_str));
        let concrete = LayerCall {
            kind: call.kind.clone(),
            args: args?,
            span: call.span,
        };
        let layer = ir::lower_layer(&concrete, &block_names, self.cx);
        let label = match &path {
            Some(p) => format!("`{p}`"),
            None if top => format!("`{kind}` (layer {})", self.position),
            None => format!(
                "`{kind}` in block `{}`",
                self.stack.last().map_or("?", String::as_str)
            ),
        };
        if layer.has_weights() {
            match &path {
                None => self.cx.error(
                    call.kind.span(),
                    format!(
                        "{label} has weights and needs a name, its key in the state_dict (hint: `{}{}: {kind}(..)`)",
                        default_prefix(&kind),
                        if top { self.position.to_string() } else { String::new() }
                    ),
                ),
                Some(p) => self.claim(p, name_span.unwrap_or(call.span)),
            }
        } else if let Some(p) = &path {
            self.claim(p, name_span.unwrap_or(call.span));
        }
        let flow = flow?;
        let mut at = At {
            layer: &layer,
            label: label.clone(),
            input: &flow.shape,
            from: &flow.from,
            cx: self.cx,
        };
        let (op, output) = at.infer()?;
        let Some((params, macs, tensors)) = cost(&op, &output) else {
            self.cx.error(call.span, format!("the sizes of {label} overflow: its parameter or operation count does not fit in 64 bits"));
            return None;
        };
        if count(&output).is_none() {
            self.cx.error(
                call.span,
                format!(
                    "the output {} of {label} overflows: its size does not fit in 64 bits",
                    code_shape(&output)
                ),
            );
            return None;
        }
        // A layer that keeps the shape leaves "where it came from" with the layer that made it.
        let keeps = matches!(
            op,
            Resolved::Act(_)
                | Resolved::Identity
                | Resolved::Dropout { .. }
                | Resolved::Softmax { .. }
        );
        let from = if keeps && flow.src != Src::Input {
            flow.from.clone()
        } else {
            label.clone()
        };
        let node = Node {
            kind,
            path,
            label,
            inputs: vec![flow.src],
            input: flow.shape.clone(),
            output,
            op,
            params,
            macs,
            tensors,
            frozen: None,
        };
        Some(self.push(node, from))
    }

    /// Records a full name; two layers with one name would read the same tensors.
    fn claim(&mut self, path: &str, span: Span) {
        if let Some(first) = self.names.get(path) {
            let mut e = syn::Error::new(
                span,
                format!(
                    "the name `{path}` is used twice (hint: each layer's tensors need their own state_dict key)"
                ),
            );
            e.combine(syn::Error::new(*first, format!("`{path}` first used here")));
            self.cx.push(e);
        } else {
            self.names.insert(path.to_string(), span);
        }
    }
}

/// Where an entry's name is written, if it has one.
fn name_span(node: &NodeEntry) -> Option<Span> {
    match &node.name {
        Some(Name::Ident(i) | Name::Range { prefix: i, .. }) => Some(i.span()),
        _ => None,
    }
}

/// The stride a projection needs to map `input` onto `output`'s spatial size, for hints.
fn stride_hint(input: &[u64], output: &[u64]) -> u64 {
    match (input.get(1), output.get(1)) {
        (Some(&i), Some(&o)) if o > 0 && i > o => i.div_ceil(o),
        _ => 1,
    }
}

fn default_prefix(kind: &str) -> &'static str {
    match kind {
        k if k.starts_with("Conv") => "conv",
        k if k.starts_with("BatchNorm") => "bn",
        _ => "fc",
    }
}
