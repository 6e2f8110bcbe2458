//! Block instances and the values of their arguments: parameters bound, defaults filled,
//! expressions over parameters and `in_channels` evaluated.

use syn::Ident;

use super::{Elab, Env, Flow, int_value};
use crate::suggest::did_you_mean;
use crate::syntax::{Arg, BlockDecl, Entry, LayerCall, Value, ValueKind};

impl Elab<'_, '_> {
    pub(super) fn instantiate(
        &mut self,
        block: &BlockDecl,
        call: &LayerCall,
        args: Vec<Arg>,
        scope: &str,
        flow: Option<Flow>,
    ) -> Option<Flow> {
        let name = block.name.to_string();
        if self.stack.contains(&name) {
            self.cx.error(
                call.kind.span(),
                format!(
                    "block `{name}` instantiates itself: {} -> {name}",
                    self.stack.join(" -> ")
                ),
            );
            return None;
        }
        let mut env = Env::new();
        if let Some(f) = &flow {
            env.insert("in_channels".into(), int_value(f.shape[0], call.span));
        }
        let mut next = 0;
        let params: Vec<String> = block.params.iter().map(|p| p.name.to_string()).collect();
        for Arg { key, value } in args {
            let param = match &key {
                None => {
                    if next >= params.len() {
                        self.cx.error(
                            value.span,
                            format!(
                                "`{name}` takes {} argument{}, found more (hint: `{name}({})`)",
                                params.len(),
                                if params.len() == 1 { "" } else { "s" },
                                params.join(", ")
                            ),
                        );
                        continue;
                    }
                    next += 1;
                    params[next - 1].clone()
                }
                Some(k) => {
                    let k = k.to_string();
                    if !params.contains(&k) {
                        let all: Vec<&str> = params.iter().map(String::as_str).collect();
                        self.cx.error(
                            key.as_ref().map_or(value.span, Ident::span),
                            format!(
                                "`{name}` has no parameter `{k}`{}",
                                did_you_mean(
                                    &k,
                                    &all,
                                    &format!(
                                        "its parameters are {}",
                                        all.iter()
                                            .map(|p| format!("`{p}`"))
                                            .collect::<Vec<_>>()
                                            .join(", ")
                                    )
                                )
                            ),
                        );
                        continue;
                    }
                    k
                }
            };
            if env.insert(param.clone(), value.clone()).is_some() {
                self.cx.error(
                    value.span,
                    format!("parameter `{param}` of `{name}` is given twice"),
                );
            }
        }
        for p in &block.params {
            let key = p.name.to_string();
            if env.contains_key(&key) {
                continue;
            }
            match &p.default {
                Some(default) => {
                    let v = self.eval(default, &env)?;
                    env.insert(key, v);
                }
                None => {
                    self.cx.error(
                        call.kind.span(),
                        format!(
                            "`{name}` needs `{key}` (hint: `{name}({})`)",
                            params.join(", ")
                        ),
                    );
                    return None;
                }
            }
        }
        self.stack.push(name.clone());
        let entries: Vec<&Entry> = block.entries.iter().collect();
        let out = self.entries(&entries, false, scope, &env, flow, false);
        self.stack.pop();
        out
    }

    pub(super) fn eval_args(&mut self, args: &[Arg], env: &Env) -> Option<Vec<Arg>> {
        let mut out = Vec::new();
        let mut ok = true;
        for arg in args {
            match self.eval(&arg.value, env) {
                Some(value) => out.push(Arg {
                    key: arg.key.clone(),
                    value,
                }),
                None => ok = false,
            }
        }

        ok.then_some(out)
    }

    /// A value with block parameters and `in_channels` replaced and arithmetic done.
    fn eval(&mut self, value: &Value, env: &Env) -> Option<Value> {
        let span = value.span;
        let kind = match &value.kind {
            ValueKind::Var(name) => {
                let n = name.to_string();
                if let Some(v) = env.get(&n) {
                    return Some(Value {
                        kind: v.kind.clone(),
                        span,
                    });
                } else {
                    let mut names: Vec<&str> = env.keys().map(String::as_str).collect();

                    names.sort();
                    self.cx.error(
                        name.span(),
                        format!(
                            "unknown name `{n}`{}",
                            did_you_mean(
                                &n,
                                &names,
                                "values may use the block's parameters and `in_channels`"
                            )
                        ),
                    );
                    return None;
                }
            }
            ValueKind::Binary(a, op, b) => {
                let (a, b) = (self.eval(a, env)?, self.eval(b, env)?);
                let (ValueKind::Int(x), ValueKind::Int(y)) = (&a.kind, &b.kind) else {
                    self.cx.error(
                        span,
                        format!(
                            "`{op}` takes integers, found {} and {}",
                            a.kind.describe(),
                            b.kind.describe()
                        ),
                    );
                    return None;
                };
                let r = match op {
                    '+' => x.checked_add(*y),
                    '-' => x.checked_sub(*y),
                    '*' => x.checked_mul(*y),
                    _ if *y == 0 => {
                        self.cx.error(span, "division by zero");
                        return None;
                    }
                    _ => Some(x.div_euclid(*y)),
                };
                match r {
                    Some(r) => ValueKind::Int(r),
                    None => {
                        self.cx.error(span, "the expression overflows");
                        return None;
                    }
                }
            }
            ValueKind::Tuple(items) => {
                let items: Option<Vec<Value>> = items.iter().map(|v| self.eval(v, env)).collect();
                ValueKind::Tuple(items?)
            }
            other => other.clone(),
        };
        Some(Value { kind, span })
    }
}
