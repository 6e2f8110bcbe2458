use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::{Ident, LitInt, Token};

/// `#[budget(params <= 62_000, memory <= 32 KiB)]`; `train_batch = 32` says the batch
/// `train_memory` is for.
pub struct Budget {
    pub items: Vec<BudgetItem>,
    pub train_batch: Option<(u64, Span)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BudgetKey {
    Params,
    Macs,
    Weights,
    Memory,
    TrainMemory,
}

impl BudgetKey {
    pub const ALL: [(&'static str, BudgetKey); 5] = [
        ("params", BudgetKey::Params),
        ("macs", BudgetKey::Macs),
        ("weights", BudgetKey::Weights),
        ("memory", BudgetKey::Memory),
        ("train_memory", BudgetKey::TrainMemory),
    ];

    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("", |(n, _)| n)
    }

    /// Whether the figure is a size in bytes (takes a unit).
    pub fn is_bytes(self) -> bool {
        matches!(
            self,
            BudgetKey::Weights | BudgetKey::Memory | BudgetKey::TrainMemory
        )
    }
}

pub struct BudgetItem {
    pub key: BudgetKey,
    pub limit: u64,
    pub span: Span,
}

const UNITS: [(&str, u64); 7] = [
    ("B", 1),
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("KB", 1_000),
    ("MB", 1_000_000),
    ("GB", 1_000_000_000),
];

impl Parse for Budget {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut items: Vec<BudgetItem> = Vec::new();
        let mut train_batch = None;
        while !input.is_empty() {
            let key_ident: Ident = input.parse()?;
            let name = key_ident.to_string();
            if name == "train_batch" {
                if train_batch.is_some() {
                    return Err(syn::Error::new(
                        key_ident.span(),
                        "`train_batch` is given twice",
                    ));
                }
                if !input.peek(Token![=]) || input.peek(Token![==]) {
                    return Err(input.error(
                        "expected `=` after `train_batch`: it is the batch `train_memory` is for, not a limit (hint: `train_batch = 32`)",
                    ));
                }
                input.parse::<Token![=]>()?;
                let number: LitInt = input.parse().map_err(|e| {
                    syn::Error::new(
                        e.span(),
                        "expected a whole number of samples for `train_batch`",
                    )
                })?;
                let n: u64 = number.base10_parse()?;
                if n == 0 {
                    return Err(syn::Error::new(
                        number.span(),
                        "`train_batch` is the samples of a training batch, at least 1",
                    ));
                }
                train_batch = Some((n, number.span()));
                if input.is_empty() {
                    break;
                }
                input.parse::<Token![,]>()?;
                continue;
            }
            let Some(&(_, key)) = BudgetKey::ALL.iter().find(|(n, _)| *n == name) else {
                let names: Vec<&str> = BudgetKey::ALL.iter().map(|(n, _)| *n).collect();
                return Err(syn::Error::new(
                    key_ident.span(),
                    format!(
                        "unknown budget `{name}`{}",
                        crate::suggest::did_you_mean(
                            &name,
                            &names,
                            "a budget limits `params`, `macs`, `weights`, `memory` or `train_memory` (with `train_batch = N`)"
                        )
                    ),
                ));
            };
            if items.iter().any(|i| i.key == key) {
                return Err(syn::Error::new(
                    key_ident.span(),
                    format!("budget `{name}` is given twice"),
                ));
            }
            if !input.peek(Token![<=]) {
                return Err(input.error(format!(
                    "expected `<=` after `{name}` (hint: `{name} <= {}`)",
                    if key.is_bytes() { "32 KiB" } else { "62_000" }
                )));
            }
            input.parse::<Token![<=]>()?;
            let number: LitInt = input.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    format!("expected a whole number as the limit of `{name}`"),
                )
            })?;
            let mut limit: u64 = number.base10_parse()?;
            let mut span = number.span();
            if input.peek(Ident) {
                let unit: Ident = input.parse()?;
                let unit_name = unit.to_string();
                if !key.is_bytes() {
                    return Err(syn::Error::new(
                        unit.span(),
                        format!("`{name}` is a count and takes no unit, found `{unit_name}`"),
                    ));
                }
                let Some(&(_, factor)) = UNITS.iter().find(|(u, _)| *u == unit_name) else {
                    let names: Vec<&str> = UNITS.iter().map(|(u, _)| *u).collect();
                    return Err(syn::Error::new(
                        unit.span(),
                        format!(
                            "unknown unit `{unit_name}`{}",
                            crate::suggest::did_you_mean(
                                &unit_name,
                                &names,
                                "sizes take `B`, `KiB`, `MiB`, `GiB`, `KB`, `MB` or `GB`"
                            )
                        ),
                    ));
                };
                limit = limit
                    .checked_mul(factor)
                    .ok_or_else(|| syn::Error::new(unit.span(), "the limit overflows 64 bits"))?;
                span = number.span().join(unit.span()).unwrap_or(span);
            }
            items.push(BudgetItem { key, limit, span });
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(Budget { items, train_batch })
    }
}
