use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::{Ident, LitBool, LitFloat, LitInt, LitStr, Token, parenthesized};

/// One argument of a layer or block: positional (`5`) or keyword (`padding = 2`).
#[derive(Clone)]
pub struct Arg {
    pub key: Option<Ident>,
    pub value: Value,
}

/// An argument's value with the span of its tokens. Inside a block, values may be integer
/// expressions over the block's parameters and `in_channels`: `planes * 4`.
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
    /// A block parameter or `in_channels`, resolved when the block is instantiated.
    Var(Ident),
    /// `a + b`, `a - b`, `a * b`, `a / b` (integer division, rounding down).
    Binary(Box<Value>, char, Box<Value>),
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
            ValueKind::Var(_) => "a name",
            ValueKind::Binary(..) => "an expression",
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
        let mut left = term(input)?;
        while input.peek(Token![+]) || input.peek(Token![-]) {
            let op = if input.parse::<Option<Token![+]>>()?.is_some() {
                '+'
            } else {
                input.parse::<Token![-]>()?;
                '-'
            };
            let right = term(input)?;
            left = binary(left, op, right);
        }
        Ok(left)
    }
}

fn binary(left: Value, op: char, right: Value) -> Value {
    let span = left.span;
    Value {
        kind: ValueKind::Binary(Box::new(left), op, Box::new(right)),
        span,
    }
}

fn term(input: ParseStream) -> syn::Result<Value> {
    let mut left = factor(input)?;
    while input.peek(Token![*]) || input.peek(Token![/]) {
        let op = if input.parse::<Option<Token![*]>>()?.is_some() {
            '*'
        } else {
            input.parse::<Token![/]>()?;
            '/'
        };
        let right = factor(input)?;
        left = binary(left, op, right);
    }
    Ok(left)
}

fn factor(input: ParseStream) -> syn::Result<Value> {
    let span = input.span();
    let lookahead = input.lookahead1();
    let kind = if lookahead.peek(Token![-]) {
        input.parse::<Token![-]>()?;
        match factor(input)? {
            Value {
                kind: ValueKind::Int(i),
                ..
            } => ValueKind::Int(-i),
            Value {
                kind: ValueKind::Float(f),
                ..
            } => ValueKind::Float(-f),
            other => ValueKind::Binary(
                Box::new(Value {
                    kind: ValueKind::Int(0),
                    span,
                }),
                '-',
                Box::new(other),
            ),
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
        if input.peek(syn::token::Paren) {
            return Err(syn::Error::new(
                ident.span(),
                format!(
                    "expected a number, a string, a boolean, `None`, a tuple or a parameter, found a call of `{ident}`"
                ),
            ));
        }
        match ident.to_string().as_str() {
            "True" => ValueKind::Bool(true),
            "False" => ValueKind::Bool(false),
            "None" => ValueKind::None,
            _ => ValueKind::Var(ident),
        }
    } else if lookahead.peek(syn::token::Paren) {
        let content;
        parenthesized!(content in input);
        let items = content.parse_terminated(Value::parse, Token![,])?;
        // `(a)` is a parenthesised expression, `(a,)` and `(a, b)` are tuples.
        if items.len() == 1 && !items.trailing_punct() {
            return Ok(items.into_iter().next().expect("one item"));
        }
        ValueKind::Tuple(items.into_iter().collect())
    } else {
        return Err(lookahead.error());
    };
    Ok(Value { kind, span })
}
