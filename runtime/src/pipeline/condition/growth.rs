//! How much larger than its data a condition's results can get, read off its syntax tree.
//!
//! The growth of an expression bounds the size of its result by `growth × size of its input`
//! (literals aside; a condition's literals fit in its byte limit). Values are shared, not
//! copied, while evaluating, but what is later compared, sorted or turned into text is walked
//! whole, so the bound is on the result's size as a tree. Rules: a path (field, index, slice) or
//! a literal has growth 1; a multi-select adds up its parts; an expression applied to another's
//! result (`a.b`, `a[*].b`, `a | b`, `map(&b, a)`) multiplies; `join` multiplies by its
//! separator's length plus one; every other function adds up its arguments.

use jmespath::ast::Ast;

use super::MAX_CONDITION_BYTES;

/// Returns the largest growth of any part of `ast` (saturating at `u64::MAX`).
pub(super) fn peak(ast: &Ast) -> u64 {
    let mut peak = 1;
    growth(ast, &mut peak);
    peak
}

fn growth(node: &Ast, peak: &mut u64) -> u64 {
    let value = match node {
        Ast::Field { .. } | Ast::Identity { .. } | Ast::Index { .. } | Ast::Slice { .. } | Ast::Literal { .. } => 1,
        Ast::Subexpr { lhs, rhs, .. } | Ast::Projection { lhs, rhs, .. } => {
            growth(lhs, peak).saturating_mul(growth(rhs, peak))
        }
        Ast::Flatten { node, .. } | Ast::ObjectValues { node, .. } | Ast::Expref { ast: node, .. } => {
            growth(node, peak)
        }
        Ast::MultiList { elements, .. } => sum(elements.iter().map(|element| growth(element, peak))),
        Ast::MultiHash { elements, .. } => sum(elements.iter().map(|pair| growth(&pair.value, peak))),
        Ast::Not { node, .. } => {
            growth(node, peak);
            1
        }
        Ast::Comparison { lhs, rhs, .. } => {
            growth(lhs, peak);
            growth(rhs, peak);
            1
        }
        Ast::And { lhs, rhs, .. } | Ast::Or { lhs, rhs, .. } => growth(lhs, peak).max(growth(rhs, peak)),
        Ast::Condition { predicate, then, .. } => {
            growth(predicate, peak);
            growth(then, peak)
        }
        Ast::Function { name, args, .. } => {
            let growths: Vec<u64> = args.iter().map(|arg| growth(arg, peak)).collect();
            let at = |index: usize| growths.get(index).copied().unwrap_or(1);
            match name.as_str() {
                "map" => at(0).saturating_mul(at(1)),
                "sort_by" | "min_by" | "max_by" => {
                    // Keys are computed element by element and kept while sorting.
                    *peak = (*peak).max(at(0).saturating_mul(at(1)));
                    at(0)
                }
                "join" => {
                    let separator = match args.first() {
                        Some(Ast::Literal { value, .. }) => value.as_string().map_or(MAX_CONDITION_BYTES, String::len),
                        _ => MAX_CONDITION_BYTES,
                    };
                    at(1).saturating_mul(1 + separator as u64)
                }
                _ => sum(growths.iter().copied()),
            }
        }
    };
    *peak = (*peak).max(value);
    value
}

fn sum(values: impl Iterator<Item = u64>) -> u64 {
    values.fold(0u64, u64::saturating_add).max(1)
}
