//! The `sql_ddl` validator.

use std::collections::HashMap;

use serde_json::Value;
use sqlparser::ast::{ColumnOption, ForeignKeyConstraint, ObjectName, Statement, TableConstraint};
use sqlparser::dialect::{Dialect, GenericDialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::Parser;
use troupe_runtime::pipeline::StepPlan;
use troupe_runtime::validator::{ValidationIssue, Validator};

use super::issue;

const NAME: &str = "sql_ddl";

/// Checks `output.ddl` (in `output.dialect`: sqlite — the default —, postgres, mysql or
/// generic): it must parse, hold at least one `CREATE TABLE`, and every foreign key must point at
/// a declared table and at declared columns of it.
#[derive(Clone, Copy, Debug, Default)]
pub struct SqlDdlValidator;

impl Validator for SqlDdlValidator {
    fn validate(&self, _step: &StepPlan, output: &Value) -> Vec<ValidationIssue> {
        let Some(ddl) = output["ddl"].as_str() else {
            return vec![issue(NAME, "/ddl", "missing: the SQL DDL must be a string at `ddl`")];
        };
        let dialect = output["dialect"].as_str().unwrap_or("sqlite");
        check_ddl(ddl, dialect).into_iter().map(|message| issue(NAME, "/ddl", message)).collect()
    }
}

/// A declared table: its columns and primary key.
struct Table {
    columns: Vec<String>,
    primary_key: Vec<String>,
}

/// Returns every problem of a DDL script, each naming the statement, table or column.
pub fn check_ddl(ddl: &str, dialect: &str) -> Vec<String> {
    let dialect: Box<dyn Dialect> = match dialect.to_ascii_lowercase().as_str() {
        "postgres" | "postgresql" => Box::new(PostgreSqlDialect {}),
        "mysql" | "mariadb" => Box::new(MySqlDialect {}),
        "generic" => Box::new(GenericDialect {}),
        _ => Box::new(SQLiteDialect {}),
    };
    let statements = match Parser::parse_sql(dialect.as_ref(), ddl) {
        Ok(statements) => statements,
        Err(error) => return vec![format!("does not parse: {error}")],
    };
    let mut tables: HashMap<String, Table> = HashMap::new();
    let mut foreign_keys: Vec<(String, ForeignKeyConstraint)> = Vec::new();
    for statement in &statements {
        let Statement::CreateTable(create) = statement else { continue };
        let table = name(&create.name);
        let mut primary_key = Vec::new();
        for column in &create.columns {
            for option in &column.options {
                match &option.option {
                    ColumnOption::ForeignKey(fk) => {
                        let mut fk = fk.clone();
                        fk.columns = vec![column.name.clone()];
                        foreign_keys.push((table.clone(), fk));
                    }
                    ColumnOption::PrimaryKey(_) => primary_key.push(column.name.value.to_lowercase()),
                    _ => {}
                }
            }
        }
        for constraint in &create.constraints {
            match constraint {
                TableConstraint::ForeignKey(fk) => foreign_keys.push((table.clone(), fk.clone())),
                TableConstraint::PrimaryKey(pk) => {
                    primary_key.extend(pk.columns.iter().map(|column| column.to_string().to_lowercase()))
                }
                _ => {}
            }
        }
        let columns = create.columns.iter().map(|column| column.name.value.to_lowercase()).collect();
        tables.insert(table, Table { columns, primary_key });
    }
    if tables.is_empty() {
        return vec!["declares no table (expected CREATE TABLE statements)".into()];
    }
    let mut problems = Vec::new();
    for (table, fk) in foreign_keys {
        let target = name(&fk.foreign_table);
        let from: Vec<String> = fk.columns.iter().map(|column| column.value.to_lowercase()).collect();
        let Some(referenced) = tables.get(&target) else {
            problems.push(format!(
                "table `{table}`: foreign key ({}) references undeclared table `{target}`",
                from.join(", ")
            ));
            continue;
        };
        let own = &tables[&table];
        for column in &from {
            if !own.columns.contains(column) {
                problems.push(format!("table `{table}`: foreign key column `{column}` is not a column of `{table}`"));
            }
        }
        let to: Vec<String> = if fk.referred_columns.is_empty() {
            referenced.primary_key.clone()
        } else {
            fk.referred_columns.iter().map(|column| column.value.to_lowercase()).collect()
        };
        if to.is_empty() {
            problems.push(format!(
                "table `{table}`: foreign key references `{target}`, which has no primary key to refer to"
            ));
        }
        for column in to {
            if !referenced.columns.contains(&column) {
                problems.push(format!(
                    "table `{table}`: foreign key references `{target}.{column}`, which `{target}` does not declare"
                ));
            }
        }
    }
    problems
}

fn name(object: &ObjectName) -> String {
    object.0.last().map(|part| part.to_string().trim_matches(['"', '`', '[', ']']).to_lowercase()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_ddl_passes() {
        let ddl = "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE);\n\
                   CREATE TABLE items (id INTEGER PRIMARY KEY, owner_id INTEGER NOT NULL REFERENCES users(id),\n\
                   parent INTEGER, FOREIGN KEY (parent) REFERENCES items);";
        assert_eq!(check_ddl(ddl, "sqlite"), Vec::<String>::new());
    }

    #[test]
    fn broken_ddl_and_dangling_keys_are_named() {
        assert!(check_ddl("CREATE TABLE (", "sqlite")[0].starts_with("does not parse"));
        assert!(check_ddl("SELECT 1;", "sqlite")[0].contains("no table"));
        let problems = check_ddl(
            "CREATE TABLE a (id INTEGER PRIMARY KEY, b_id INTEGER REFERENCES b(id), c INTEGER REFERENCES a(nope));",
            "postgres",
        );
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("undeclared table `b`"), "{problems:?}");
        assert!(problems[1].contains("`a.nope`"), "{problems:?}");
    }
}
