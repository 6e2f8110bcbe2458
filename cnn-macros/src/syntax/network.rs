use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Attribute, Ident, LitInt, Token, Visibility, braced, bracketed, parenthesized};

use super::{Arg, Budget};

/// `#[attrs] vis struct Name { entries }`
pub struct NetworkDecl {
    /// Attributes other than `#[budget]`, copied onto the generated struct.
    pub attrs: Vec<Attribute>,
    pub budget: Option<Budget>,
    pub vis: Visibility,
    pub name: Ident,
    pub entries: Vec<Entry>,
}

pub enum Entry {
    /// `input: [1, 28, 28]` or `output: [10]`; the key is the ident before the colon.
    Shape {
        key: Ident,
        dims: Vec<(i128, Span)>,
        span: Span,
    },
    /// A layer, named or not.
    Layer(LayerCall),
}

/// `conv1: Conv2d(6, 5, padding = 2)`, `ReLU`, `Flatten()`.
pub struct LayerCall {
    pub name: Option<Ident>,
    pub kind: Ident,
    pub args: Vec<Arg>,
    /// Span of the whole entry, for errors about the layer.
    pub span: Span,
}

impl Parse for NetworkDecl {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut attrs = Vec::new();
        let mut budget = None;
        for attr in input.call(Attribute::parse_outer)? {
            if attr.path().is_ident("budget") {
                if budget.is_some() {
                    return Err(syn::Error::new(attr.span(), "`#[budget]` is given twice"));
                }
                budget = Some(attr.parse_args::<Budget>()?);
            } else {
                attrs.push(attr);
            }
        }
        let vis: Visibility = input.parse()?;
        if !input.peek(Token![struct]) {
            return Err(input
                .error("expected `struct` (hint: `pub struct Net { input: [1, 28, 28], ... }`)"));
        }
        input.parse::<Token![struct]>()?;
        let name: Ident = input.parse()?;
        let content;
        braced!(content in input);
        let mut entries = Vec::new();
        while !content.is_empty() {
            entries.push(content.parse()?);
            if content.is_empty() {
                break;
            }
            content.parse::<Token![,]>()?;
        }
        Ok(NetworkDecl {
            attrs,
            budget,
            vis,
            name,
            entries,
        })
    }
}

impl Parse for Entry {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let start = input.span();
        let name = if input.peek(Ident) && input.peek2(Token![:]) && !input.peek2(Token![::]) {
            let name: Ident = input.parse()?;
            input.parse::<Token![:]>()?;
            Some(name)
        } else {
            None
        };
        if let Some(key) = &name
            && input.peek(syn::token::Bracket)
        {
            let content;
            let bracket = bracketed!(content in input);
            let mut dims = Vec::new();
            while !content.is_empty() {
                let negative = content.peek(Token![-]);
                if negative {
                    content.parse::<Token![-]>()?;
                }
                let lit: LitInt = content.parse().map_err(|e| {
                    syn::Error::new(e.span(), "expected a whole number in the shape")
                })?;
                let value: i128 = lit.base10_parse()?;
                dims.push((if negative { -value } else { value }, lit.span()));
                if content.is_empty() {
                    break;
                }
                content.parse::<Token![,]>()?;
            }
            let span = key.span().join(bracket.span.close()).unwrap_or(key.span());
            return Ok(Entry::Shape {
                key: key.clone(),
                dims,
                span,
            });
        }
        let kind: Ident = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected a layer such as `Conv2d(6, 5)`, or `input: [..]` / `output: [..]`",
            )
        })?;
        let mut end = kind.span();
        let mut args = Vec::new();
        if input.peek(syn::token::Paren) {
            let content;
            let paren = parenthesized!(content in input);
            end = paren.span.close();
            let parsed = content.parse_terminated(Arg::parse, Token![,])?;
            args = parsed.into_iter().collect();
        }
        let span = start.join(end).unwrap_or(kind.span());
        Ok(Entry::Layer(LayerCall {
            name,
            kind,
            args,
            span,
        }))
    }
}
