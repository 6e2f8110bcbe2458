//! Stage 1, parse: tokens to a syntax tree that keeps every span. Only the token grammar is
//! checked here; what the layers and arguments mean is the next stage's business.

mod args;
mod budget;
mod network;

pub use args::{Arg, Value, ValueKind};
pub use budget::{Budget, BudgetKey};
pub use network::{BlockDecl, Entry, LayerCall, Name, NetworkDecl, NodeEntry, NodeExpr};

use syn::Ident;
use syn::parse::{Parse, ParseStream};

/// The whole invocation: networks and the blocks they use, in any order.
pub struct Declarations {
    pub networks: Vec<NetworkDecl>,
    pub blocks: Vec<BlockDecl>,
}

impl Parse for Declarations {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut networks = Vec::new();
        let mut blocks = Vec::new();
        while !input.is_empty() {
            // A block starts, after its doc comments, with the word `block`.
            let fork = input.fork();
            fork.call(syn::Attribute::parse_outer)?;
            if fork.peek(Ident) && fork.parse::<Ident>()? == "block" {
                blocks.push(input.parse()?);
            } else {
                networks.push(input.parse()?);
            }
        }
        if networks.is_empty() {
            return Err(input.error(
                "expected a network declaration (hint: `pub struct Net { input: [1, 28, 28], ... }`)",
            ));
        }
        Ok(Declarations { networks, blocks })
    }
}
