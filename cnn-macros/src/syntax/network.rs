use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Attribute, Ident, LitInt, Token, Visibility, braced, bracketed, parenthesized};

use super::{Arg, Budget, Value};

/// `#[attrs] vis struct Name { entries }`
pub struct NetworkDecl {
    /// Attributes other than `#[budget]`, copied onto the generated struct.
    pub attrs: Vec<Attribute>,
    pub budget: Option<Budget>,
    pub vis: Visibility,
    pub name: Ident,
    pub entries: Vec<Entry>,
}

/// `block Name(param, param = default) { entries }`: a reusable group of layers.
pub struct BlockDecl {
    pub name: Ident,
    pub params: Vec<BlockParam>,
    pub entries: Vec<Entry>,
}

pub struct BlockParam {
    pub name: Ident,
    pub default: Option<Value>,
}

pub enum Entry {
    /// `input: [1, 28, 28]` or `output: [10]`; the key is the ident before the colon.
    Shape {
        key: Ident,
        dims: Vec<(i128, Span)>,
        span: Span,
    },
    Node(NodeEntry),
}

/// One entry of a body: `[name[?]:] expr [* n]`.
pub struct NodeEntry {
    pub name: Option<Name>,
    /// `name?: ...`: a shortcut that exists only where the identity would not fit.
    pub optional: bool,
    pub expr: NodeExpr,
    /// `* n`: the entry `n` times, numbered on in a `[...]` group.
    pub repeat: Option<(u64, Span)>,
    /// `#[frozen]`: the entry's layers do not train (where the attribute is written).
    pub frozen: Option<Span>,
}

/// A layer's or group's name: its key in the state_dict.
pub enum Name {
    Ident(Ident),
    /// `0: Conv2d(...)`, as `nn.Sequential` names its children.
    Index(u64),
    /// `denselayer{1..=6}: DenseLayer`: six entries, `denselayer1` to `denselayer6`.
    Range {
        prefix: Ident,
        first: u64,
        last: u64,
    },
}

pub enum NodeExpr {
    /// A layer or a block instance.
    Call(LayerCall),
    /// `[a, b, c]` (children named 0, 1, 2, ... as in `nn.Sequential`) or `{a, b, c}` (children
    /// named as written).
    Group { numbered: bool, entries: Vec<Entry> },
    /// `residual { main } [+ shortcut]`: the block's input through `main`, plus the input through
    /// `shortcut` (the identity when absent). `residual?` adds only where the shapes allow.
    Residual {
        optional: bool,
        main: Vec<Entry>,
        shortcut: Option<Box<NodeEntry>>,
        span: Span,
    },
    /// `cat { a, b, ... }`: the input through each branch, concatenated along channels.
    Cat { branches: Vec<Entry>, span: Span },
}

/// `Conv2d(6, 5, padding = 2)`, `ReLU`, `BasicBlock(64, 2)`.
pub struct LayerCall {
    pub kind: Ident,
    pub args: Vec<Arg>,
    /// Span of the call, for errors about the layer.
    pub span: Span,
}

fn parse_entries(content: ParseStream) -> syn::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    while !content.is_empty() {
        entries.push(content.parse()?);
        if content.is_empty() {
            break;
        }
        content.parse::<Token![,]>()?;
    }
    Ok(entries)
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
            return Err(input.error(
                "expected `struct` or `block` (hint: `pub struct Net { input: [1, 28, 28], ... }`)",
            ));
        }
        input.parse::<Token![struct]>()?;
        let name: Ident = input.parse()?;
        let content;
        braced!(content in input);
        Ok(NetworkDecl {
            attrs,
            budget,
            vis,
            name,
            entries: parse_entries(&content)?,
        })
    }
}

impl Parse for BlockDecl {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        // Doc comments document the declaration; they have nowhere to go in the expansion.
        for attr in input.call(Attribute::parse_outer)? {
            if !attr.path().is_ident("doc") {
                return Err(syn::Error::new(
                    attr.span(),
                    "a block takes no attributes but doc comments",
                ));
            }
        }
        let keyword: Ident = input.parse()?;
        if keyword != "block" {
            return Err(syn::Error::new(keyword.span(), "expected `block`"));
        }
        let name: Ident = input.parse()?;
        let mut params = Vec::new();
        if input.peek(syn::token::Paren) {
            let content;
            parenthesized!(content in input);
            while !content.is_empty() {
                let name: Ident = content.parse()?;
                let default = if content.parse::<Option<Token![=]>>()?.is_some() {
                    Some(content.parse()?)
                } else {
                    None
                };
                params.push(BlockParam { name, default });
                if content.is_empty() {
                    break;
                }
                content.parse::<Token![,]>()?;
            }
        }
        let content;
        braced!(content in input);
        Ok(BlockDecl {
            name,
            params,
            entries: parse_entries(&content)?,
        })
    }
}

/// Whether a bracket group holds a shape (`[1, 28, 28]`) rather than layers.
fn is_shape(input: ParseStream) -> bool {
    let fork = input.fork();
    let decide = || -> syn::Result<bool> {
        let content;
        bracketed!(content in fork);
        Ok((content.peek(LitInt) && !content.peek2(Token![:]))
            || (content.peek(Token![-]) && content.peek2(LitInt))
            || content.is_empty())
    };
    decide().unwrap_or(false)
}

/// `ident{a..=b}:` ahead?
fn range_name(input: ParseStream) -> Option<(Ident, u64, u64)> {
    let fork = input.fork();
    let read = || -> syn::Result<(Ident, u64, u64)> {
        let prefix: Ident = fork.parse()?;
        let content;
        braced!(content in fork);
        let first: LitInt = content.parse()?;
        content.parse::<Token![..=]>()?;
        let last: LitInt = content.parse()?;
        if !content.is_empty() || !fork.peek(Token![:]) {
            return Err(content.error("not a range name"));
        }
        Ok((prefix, first.base10_parse()?, last.base10_parse()?))
    };
    read().ok()
}

/// The attributes of an entry: `#[frozen]` and nothing else.
fn entry_attrs(input: ParseStream) -> syn::Result<Option<Span>> {
    let mut frozen = None;
    for attr in input.call(Attribute::parse_outer)? {
        if !attr.path().is_ident("frozen") {
            return Err(syn::Error::new(
                attr.path().span(),
                "a layer takes no attribute but `#[frozen]` (its layers do not train)",
            ));
        }
        let at = attr.path().span();
        if !matches!(attr.meta, syn::Meta::Path(_)) {
            return Err(syn::Error::new(at, "`#[frozen]` takes no arguments"));
        }
        if frozen.is_some() {
            return Err(syn::Error::new(at, "`#[frozen]` is given twice"));
        }
        frozen = Some(at);
    }
    Ok(frozen)
}

impl Parse for Entry {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let frozen = entry_attrs(input)?;
        let mut optional = false;
        let name = if let Some((prefix, first, last)) = range_name(input) {
            input.parse::<Ident>()?;
            let content;
            braced!(content in input);
            content.parse::<proc_macro2::TokenStream>()?;
            Some(Name::Range {
                prefix,
                first,
                last,
            })
        } else if input.peek(LitInt) && input.peek2(Token![:]) && !input.peek2(Token![::]) {
            let lit: LitInt = input.parse()?;
            Some(Name::Index(lit.base10_parse()?))
        } else if input.peek(Ident) && input.peek2(Token![:]) && !input.peek2(Token![::]) {
            Some(Name::Ident(input.parse()?))
        } else if input.peek(Ident) && input.peek2(Token![?]) && !input.peek(kw::residual) {
            let ident: Ident = input.parse()?;
            input.parse::<Token![?]>()?;
            optional = true;
            Some(Name::Ident(ident))
        } else {
            None
        };
        if name.is_some() {
            input.parse::<Token![:]>()?;
        }
        if let Some(Name::Ident(key)) = &name
            && !optional
            && is_shape(input)
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
            if let Some(at) = frozen {
                return Err(syn::Error::new(at, "`#[frozen]` marks layers, not a shape"));
            }
            return Ok(Entry::Shape {
                key: key.clone(),
                dims,
                span,
            });
        }
        let expr = parse_expr(input)?;
        let repeat = if input.peek(Token![*]) {
            input.parse::<Token![*]>()?;
            let lit: LitInt = input.parse()?;
            Some((lit.base10_parse()?, lit.span()))
        } else {
            None
        };
        Ok(Entry::Node(NodeEntry {
            name,
            optional,
            expr,
            repeat,
            frozen,
        }))
    }
}

mod kw {
    syn::custom_keyword!(residual);
    syn::custom_keyword!(cat);
}

fn parse_expr(input: ParseStream) -> syn::Result<NodeExpr> {
    let span = input.span();
    if input.peek(kw::residual) && (input.peek2(Token![?]) || input.peek2(syn::token::Brace)) {
        input.parse::<kw::residual>()?;
        let question = input.parse::<Option<Token![?]>>()?;
        let optional = question.is_some();
        let content;
        braced!(content in input);
        let main = parse_entries(&content)?;
        if optional && input.peek(Token![+]) {
            return Err(input.error("`residual?` adds the identity where the shapes allow and takes no shortcut (hint: `residual { .. } + name?: [..]` gives a shortcut where the identity does not fit)"));
        }
        let shortcut = if input.parse::<Option<Token![+]>>()?.is_some() {
            match input.parse::<Entry>()? {
                Entry::Node(node) => Some(Box::new(node)),
                Entry::Shape { span, .. } => {
                    return Err(syn::Error::new(
                        span,
                        "expected the shortcut's layers after `+`",
                    ));
                }
            }
        } else {
            None
        };
        return Ok(NodeExpr::Residual {
            optional,
            main,
            shortcut,
            span,
        });
    }
    if input.peek(kw::cat) && input.peek2(syn::token::Brace) {
        input.parse::<kw::cat>()?;
        let content;
        braced!(content in input);
        return Ok(NodeExpr::Cat {
            branches: parse_entries(&content)?,
            span,
        });
    }
    if input.peek(syn::token::Bracket) {
        let content;
        bracketed!(content in input);
        return Ok(NodeExpr::Group {
            numbered: true,
            entries: parse_entries(&content)?,
        });
    }
    if input.peek(syn::token::Brace) {
        let content;
        braced!(content in input);
        return Ok(NodeExpr::Group {
            numbered: false,
            entries: parse_entries(&content)?,
        });
    }
    let kind: Ident = input.parse().map_err(|e| {
        syn::Error::new(
            e.span(),
            "expected a layer such as `Conv2d(6, 5)`, a block, `[...]`, `residual { ... }`, `cat { ... }`, or `input: [..]` / `output: [..]`",
        )
    })?;
    let mut args = Vec::new();
    if input.peek(syn::token::Paren) {
        let content;
        parenthesized!(content in input);
        let parsed = content.parse_terminated(Arg::parse, Token![,])?;
        args = parsed.into_iter().collect();
    }
    Ok(NodeExpr::Call(LayerCall {
        span: kind.span(),
        kind,
        args,
    }))
}
