//! A JMESPath interpreter with a work budget.
//!
//! It follows the jmespath crate's own interpreter node for node (same results, same errors)
//! but charges one unit per node evaluated and one per element it creates (arrays and objects
//! it builds, strings a function returns), and fails once the budget is spent. Functions are the
//! crate's built-ins, except the four that evaluate an expression per element (`map`,
//! `sort_by`, `min_by`, `max_by`): those are done here, so their per-element work is charged too.

use std::collections::BTreeMap;

use jmespath::ast::Ast;
use jmespath::{Context, DEFAULT_RUNTIME, JmespathError, Rcvar, Variable};

/// Evaluates `ast` (compiled from `source`) against `data` within `budget` units.
pub(super) fn evaluate(source: &str, ast: &Ast, data: Variable, budget: u64) -> Result<Rcvar, String> {
    let mut interpreter = Interpreter { budget, context: Context::new(source, &DEFAULT_RUNTIME) };
    interpreter.eval(&Rcvar::new(data), ast)
}

struct Interpreter<'a> {
    budget: u64,
    context: Context<'a>,
}

fn null() -> Rcvar {
    Rcvar::new(Variable::Null)
}

fn error(error: JmespathError) -> String {
    error.to_string().lines().next().unwrap_or_default().trim().to_owned()
}

impl Interpreter<'_> {
    fn charge(&mut self, units: usize) -> Result<(), String> {
        let units = units as u64;
        if units > self.budget {
            self.budget = 0;
            return Err("the condition needs more work than a condition may do; simplify it".to_owned());
        }
        self.budget -= units;
        Ok(())
    }

    fn eval(&mut self, data: &Rcvar, node: &Ast) -> Result<Rcvar, String> {
        self.charge(1)?;
        match node {
            Ast::Field { name, .. } => Ok(data.get_field(name)),
            Ast::Subexpr { lhs, rhs, .. } => {
                let left = self.eval(data, lhs)?;
                self.eval(&left, rhs)
            }
            Ast::Identity { .. } => Ok(data.clone()),
            Ast::Literal { value, .. } => Ok(value.clone()),
            Ast::Index { idx, .. } => Ok(if *idx >= 0 {
                data.get_index(*idx as usize)
            } else {
                data.get_negative_index(idx.unsigned_abs() as usize)
            }),
            Ast::Or { lhs, rhs, .. } => {
                let left = self.eval(data, lhs)?;
                if left.is_truthy() { Ok(left) } else { self.eval(data, rhs) }
            }
            Ast::And { lhs, rhs, .. } => {
                let left = self.eval(data, lhs)?;
                if left.is_truthy() { self.eval(data, rhs) } else { Ok(left) }
            }
            Ast::Not { node, .. } => Ok(Rcvar::new(Variable::Bool(!self.eval(data, node)?.is_truthy()))),
            Ast::Condition { predicate, then, .. } => {
                if self.eval(data, predicate)?.is_truthy() {
                    self.eval(data, then)
                } else {
                    Ok(null())
                }
            }
            Ast::Comparison { comparator, lhs, rhs, .. } => {
                let left = self.eval(data, lhs)?;
                let right = self.eval(data, rhs)?;
                Ok(left.compare(comparator, &right).map_or_else(null, |result| Rcvar::new(Variable::Bool(result))))
            }
            Ast::ObjectValues { node, .. } => {
                let subject = self.eval(data, node)?;
                match subject.as_object() {
                    Some(object) => {
                        self.charge(object.len())?;
                        Ok(Rcvar::new(Variable::Array(object.values().cloned().collect())))
                    }
                    None => Ok(null()),
                }
            }
            Ast::Projection { lhs, rhs, .. } => {
                let left = self.eval(data, lhs)?;
                let Some(elements) = left.as_array() else { return Ok(null()) };
                self.charge(elements.len())?;
                let mut collected = Vec::new();
                for element in elements {
                    let current = self.eval(element, rhs)?;
                    if !current.is_null() {
                        collected.push(current);
                    }
                }
                Ok(Rcvar::new(Variable::Array(collected)))
            }
            Ast::Flatten { node, .. } => {
                let subject = self.eval(data, node)?;
                let Some(elements) = subject.as_array() else { return Ok(null()) };
                let mut collected = Vec::new();
                for element in elements {
                    match element.as_array() {
                        Some(inner) => {
                            self.charge(inner.len())?;
                            collected.extend(inner.iter().cloned());
                        }
                        None => {
                            self.charge(1)?;
                            collected.push(element.clone());
                        }
                    }
                }
                Ok(Rcvar::new(Variable::Array(collected)))
            }
            Ast::MultiList { elements, .. } => {
                if data.is_null() {
                    return Ok(null());
                }
                self.charge(elements.len())?;
                let mut collected = Vec::with_capacity(elements.len());
                for element in elements {
                    collected.push(self.eval(data, element)?);
                }
                Ok(Rcvar::new(Variable::Array(collected)))
            }
            Ast::MultiHash { elements, .. } => {
                if data.is_null() {
                    return Ok(null());
                }
                self.charge(elements.len())?;
                let mut collected = BTreeMap::new();
                for pair in elements {
                    collected.insert(pair.key.clone(), self.eval(data, &pair.value)?);
                }
                Ok(Rcvar::new(Variable::Object(collected)))
            }
            Ast::Expref { ast, .. } => Ok(Rcvar::new(Variable::Expref(ast.as_ref().clone()))),
            Ast::Slice { start, stop, step, .. } => {
                if *step == 0 {
                    return Err("a slice's step cannot be 0".to_owned());
                }
                match data.slice(*start, *stop, *step) {
                    Some(array) => {
                        self.charge(array.len())?;
                        Ok(Rcvar::new(Variable::Array(array)))
                    }
                    None => Ok(null()),
                }
            }
            Ast::Function { name, args, offset } => {
                let mut values = Vec::with_capacity(args.len());
                for arg in args {
                    values.push(self.eval(data, arg)?);
                }
                self.call(name, &values, *offset)
            }
        }
    }

    fn call(&mut self, name: &str, args: &[Rcvar], offset: usize) -> Result<Rcvar, String> {
        let result = match name {
            "map" => {
                let (Some(ast), Some(elements)) =
                    (args.first().and_then(|a| a.as_expref()), args.get(1).and_then(|a| a.as_array()))
                else {
                    return Err("map() takes an expression reference and an array".to_owned());
                };
                self.charge(elements.len())?;
                let mut mapped = Vec::with_capacity(elements.len());
                for element in elements {
                    mapped.push(self.eval(element, ast)?);
                }
                Rcvar::new(Variable::Array(mapped))
            }
            "sort_by" | "min_by" | "max_by" => {
                let (Some(elements), Some(ast)) =
                    (args.first().and_then(|a| a.as_array()), args.get(1).and_then(|a| a.as_expref()))
                else {
                    return Err(format!("{name}() takes an array and an expression reference"));
                };
                self.charge(elements.len())?;
                let mut keyed: Vec<(Rcvar, Rcvar)> = Vec::with_capacity(elements.len());
                for element in elements {
                    let key = self.eval(element, ast)?;
                    let same_kind = keyed.first().is_none_or(|(_, first)| first.get_type() == key.get_type());
                    if !(key.is_string() || key.is_number()) || !same_kind {
                        return Err(format!(
                            "{name}(): the expression must give all numbers or all strings, got {}",
                            key.get_type()
                        ));
                    }
                    keyed.push((element.clone(), key));
                }
                if name == "sort_by" {
                    keyed.sort_by(|a, b| a.1.cmp(&b.1));
                    Rcvar::new(Variable::Array(keyed.into_iter().map(|(element, _)| element).collect()))
                } else {
                    // The first of equal keys wins, as in the jmespath crate.
                    let better = |candidate: &Rcvar, best: &Rcvar| {
                        if name == "min_by" { candidate < best } else { candidate > best }
                    };
                    let mut best: Option<(Rcvar, Rcvar)> = None;
                    for (element, key) in keyed {
                        if best.as_ref().is_none_or(|(_, best_key)| better(&key, best_key)) {
                            best = Some((element, key));
                        }
                    }
                    best.map_or_else(null, |(element, _)| element)
                }
            }
            _ => {
                self.context.offset = offset;
                let function =
                    DEFAULT_RUNTIME.get_function(name).ok_or_else(|| format!("unknown function {name}()"))?;
                function.evaluate(args, &mut self.context).map_err(error)?
            }
        };
        let size = match result.as_ref() {
            Variable::String(text) => text.len(),
            Variable::Array(elements) => elements.len(),
            Variable::Object(object) => object.len(),
            _ => 1,
        };
        self.charge(size)?;
        Ok(result)
    }
}
