//! The `cnn!` macro. A small compiler: parse ([`syntax`]) → lower ([`ir`]) → check shapes, names
//! and budgets ([`check`]) → plan fusion and memory ([`plan`]) → emit ([`expand`]). Each stage
//! records its problems in a [`ctxt::Ctxt`] and the entry point reports them all together.

mod check;
mod ctxt;
mod expand;
mod ir;
mod plan;
mod suggest;
mod syntax;
#[cfg(test)]
mod tests;

use proc_macro::TokenStream;

/// Declares one or more convolutional networks; see the `cnn` crate for the language.
#[proc_macro]
pub fn cnn(input: TokenStream) -> TokenStream {
    match syn::parse::<syntax::Declarations>(input) {
        Ok(decls) => compile(&decls).into(),
        Err(e) => e.into_compile_error().into(),
    }
}

fn compile(decls: &syntax::Declarations) -> proc_macro2::TokenStream {
    let mut out = proc_macro2::TokenStream::new();
    let mut cx = ctxt::Ctxt::default();
    check::check_blocks(&decls.blocks, &mut cx);
    out.extend(std::mem::take(&mut cx).into_compile_errors());
    for decl in &decls.networks {
        let mut cx = ctxt::Ctxt::default();
        let net = ir::declare(decl, &mut cx);
        let graph = check::elaborate(&net, &decls.blocks, &mut cx);
        let expansion = graph.and_then(|(nodes, result)| {
            let plan = plan::plan(&nodes, result);
            let frozen = check::frozen_prefix(&nodes, &mut cx);
            let train_batch = decl
                .budget
                .as_ref()
                .and_then(|b| b.train_batch)
                .map_or(1, |(n, _)| n);
            let Some(figures) = check::Figures::of(&nodes, &plan, frozen, train_batch) else {
                cx.error(decl.name.span(), "the network's totals overflow 64 bits");
                return None;
            };
            if let Some(budget) = &decl.budget {
                check::check_budgets(budget, &nodes, &plan, &figures, &mut cx);
            }
            cx.is_empty()
                .then(|| expand::expand(&net, &nodes, &plan, &figures))
        });
        let ok = cx.is_empty();
        out.extend(cx.into_compile_errors());
        match expansion {
            Some(tokens) if ok => out.extend(tokens),
            _ => out.extend(expand::fallback(&net)),
        }
    }
    out
}
