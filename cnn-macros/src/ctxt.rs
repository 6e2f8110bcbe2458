//! Error collection: every stage records its problems here and goes on, so that an author sees
//! all the errors of a declaration in one build (as serde's `Ctxt`).

use proc_macro2::{Span, TokenStream};

#[derive(Default)]
pub struct Ctxt {
    errors: Vec<syn::Error>,
}

impl Ctxt {
    pub fn error(&mut self, span: Span, msg: impl std::fmt::Display) {
        self.push(syn::Error::new(span, msg));
    }

    /// Records an error, once: a block instantiated many times repeats its problems.
    pub fn push(&mut self, error: syn::Error) {
        let same = |e: &syn::Error| {
            e.to_string() == error.to_string()
                && format!("{:?}", e.span()) == format!("{:?}", error.span())
        };
        if !self.errors.iter().any(same) {
            self.errors.push(error);
        }
    }

    /// Number of errors so far.
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// All errors as `compile_error!` invocations.
    pub fn into_compile_errors(self) -> TokenStream {
        self.errors
            .into_iter()
            .map(|e| e.into_compile_error())
            .collect()
    }
}

#[cfg(test)]
impl Ctxt {
    /// The messages, for tests of the stages.
    pub fn messages(&self) -> Vec<String> {
        self.errors
            .iter()
            .flat_map(|e| e.clone().into_iter().map(|e| e.to_string()))
            .collect()
    }
}
