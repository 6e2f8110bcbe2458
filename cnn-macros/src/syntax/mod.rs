//! Stage 1, parse: tokens to a syntax tree that keeps every span. Only the token grammar is
//! checked here; what the layers and arguments mean is the next stage's business.

mod args;
mod budget;
mod network;

pub use args::{Arg, Value, ValueKind};
pub use budget::{Budget, BudgetKey};
pub use network::{Entry, LayerCall, NetworkDecl};

use syn::parse::{Parse, ParseStream};

/// The whole invocation: one or more network declarations.
pub struct Declarations {
    pub networks: Vec<NetworkDecl>,
}

impl Parse for Declarations {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut networks = Vec::new();
        while !input.is_empty() {
            networks.push(input.parse()?);
        }
        if networks.is_empty() {
            return Err(input.error(
                "expected a network declaration (hint: `pub struct Net { input: [1, 28, 28], ... }`)",
            ));
        }
        Ok(Declarations { networks })
    }
}
