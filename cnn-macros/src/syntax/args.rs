use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::{Ident, LitBool, LitFloat, LitInt, LitStr, Token, parenthesized};

/// One argument of a layer: positional (`5`) or keyword (`padding = 2`).
pub struct Arg {
    pub key: Option<Ident>,
    pub value: Value,
}

/// An argument's value with the span of its tokens.
#[derive(Clone, Debug)]
pub struct Value {
    pub kind: ValueKind,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum ValueKind {
    Int(i128),
    Float(f64),
    Str(String),
    Bool(bool),
    None,
    Tuple(Vec<Value>),
}

impl ValueKind {
    /// How the value reads in a message: "an integer", "a string", ...
    pub fn describe(&self) -> &'static str {
        match self {
            ValueKind::Int(_) => "an integer",
            ValueKind::Float(_) => "a float",
            ValueKind::Str(_) => "a string",
            ValueKind::Bool(_) => "a boolean",
            ValueKind::None => "`None`",
            ValueKind::Tuple(_) => "a tuple",
        }
    }
}

impl Parse for Arg {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let key = if input.peek(Ident) && input.peek2(Token![=]) && !input.peek2(Token![==]) {
            let key: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            Some(key)
        } else {
            None
        };
        Ok(Arg {
            key,
            value: input.parse()?,
        })
    }
}

impl Parse for Value {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let span = input.span();
        let lookahead = input.lookahead1();
        let kind = if lookahead.peek(Token![-]) {
            input.parse::<Token![-]>()?;
            match input.parse::<Value>()? {
                Value {
                    kind: ValueKind::Int(i),
                    ..
                } => ValueKind::Int(-i),
                Value {
                    kind: ValueKind::Float(f),
                    ..
                } => ValueKind::Float(-f),
                other => return Err(syn::Error::new(other.span, "expected a number after `-`")),
            }
        } else if lookahead.peek(LitInt) {
            let lit: LitInt = input.parse()?;
            ValueKind::Int(lit.base10_parse()?)
        } else if lookahead.peek(LitFloat) {
            let lit: LitFloat = input.parse()?;
            ValueKind::Float(lit.base10_parse()?)
        } else if lookahead.peek(LitStr) {
            ValueKind::Str(input.parse::<LitStr>()?.value())
        } else if lookahead.peek(LitBool) {
            ValueKind::Bool(input.parse::<LitBool>()?.value)
        } else if lookahead.peek(Ident) {
            let ident: Ident = input.parse()?;
            match ident.to_string().as_str() {
                "True" => ValueKind::Bool(true),
                "False" => ValueKind::Bool(false),
                "None" => ValueKind::None,
                other => {
                    return Err(syn::Error::new(
                        ident.span(),
                        format!(
                            "expected a number, a string, a boolean, `None` or a tuple, found `{other}`"
                        ),
                    ));
                }
            }
        } else if lookahead.peek(syn::token::Paren) {
            let content;
            parenthesized!(content in input);
            let items = content.parse_terminated(Value::parse, Token![,])?;
            ValueKind::Tuple(items.into_iter().collect())
        } else {
            return Err(lookahead.error());
        };
        Ok(Value { kind, span })
    }
}
