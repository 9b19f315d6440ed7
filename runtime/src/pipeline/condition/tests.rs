use serde_json::json;

use super::*;

#[test]
fn conditions_follow_jmespath_truthiness() {
    let data = json!({"input": {"lang": "rust", "tags": []}, "steps": {"plan": {"output": {"n": 3}}}});
    let check = |source: &str| Condition::compile(source).unwrap().evaluate(&data).unwrap();
    assert!(check("input.lang == 'rust'"));
    assert!(!check("input.lang == 'go'"));
    assert!(!check("input.tags"));
    assert!(check("steps.plan.output.n > `2`"));
    assert!(!check("steps.missing.output"));
}

#[test]
fn a_malformed_condition_is_rejected_at_compile_time() {
    assert!(Condition::compile("input.lang ==").is_err());
}

/// The bounded interpreter answers exactly what the jmespath crate answers.
#[test]
fn the_bounded_interpreter_agrees_with_jmespath() {
    let data = json!({
        "input": {"name": "Ada", "tags": ["b", "a", "c"], "n": 3, "people": [
            {"name": "x", "age": 30}, {"name": "y", "age": 20}, {"name": "z", "age": 40}
        ], "nested": [[1, 2], [3, [4]], 5], "object": {"a": 1, "b": 2}},
        "steps": {"plan": {"output": {"ok": true, "items": [1, 2, 3]}}}
    });
    for source in [
        "input.name",
        "input.tags[0]",
        "input.tags[-1]",
        "input.tags[::2]",
        "input.people[*].name",
        "input.people[?age > `25`].name",
        "input.nested[]",
        "input.object.*",
        "input.people | [0]",
        "[input.name, input.n]",
        "{a: input.name, b: input.n}",
        "input.missing || input.name",
        "input.name && input.n",
        "!input.tags",
        "length(input.tags)",
        "contains(input.tags, 'a')",
        "sort(input.tags)",
        "join(', ', input.tags)",
        "map(&age, input.people)",
        "sort_by(input.people, &age)[*].name",
        "max_by(input.people, &age).name",
        "min_by(input.people, &name).name",
        "to_string(input.n)",
        "keys(input.object)",
        "merge(input.object, `{\"c\": 3}`)",
        "steps.plan.output.items[?@ > `1`]",
        "type(input.n)",
        "not_null(input.missing, input.n)",
    ] {
        let expected = jmespath::compile(source).unwrap().search(&data).unwrap();
        let ast = jmespath::compile(source).unwrap();
        let variable = jmespath::Variable::try_from(&data).unwrap();
        let actual = bounded::evaluate(source, ast.as_ast(), variable, EVALUATION_BUDGET).unwrap();
        assert_eq!(actual, expected, "`{source}`");
    }
    let ast = jmespath::compile("sort_by(input.people, &name || age)").unwrap();
    let variable = jmespath::Variable::try_from(&json!({"input": {"people": [{"name": "a"}, {"age": 1}]}})).unwrap();
    assert!(bounded::evaluate("", ast.as_ast(), variable, EVALUATION_BUDGET).is_err(), "mixed key kinds");
}

#[test]
fn deep_nesting_is_refused_before_parsing() {
    let deep = format!("{}input", "!".repeat(20_000));
    let error = Condition::compile(&deep).unwrap_err();
    assert!(error.contains("at most 1024 bytes"), "{error}");
    let nested = format!("{}input", "!".repeat(200));
    let error = Condition::compile(&nested).unwrap_err();
    assert!(error.contains("nest at most 64"), "{error}");
    let brackets = format!("{}input{}", "(".repeat(100), ")".repeat(100));
    assert!(Condition::compile(&brackets).unwrap_err().contains("nest at most"));
    // Brackets inside string literals are text, not nesting.
    assert!(Condition::compile(&format!("input.name == '{}'", "[".repeat(100))).is_ok());
    assert!(Condition::compile(&format!("{}input", "!".repeat(40))).is_ok());
}

#[test]
fn conditions_that_would_multiply_their_data_are_refused() {
    let doubling = |times: usize| format!("[input]{}", " | [@,@][]".repeat(times));
    let error = Condition::compile(&doubling(30)).unwrap_err();
    assert!(error.contains("grow"), "{error}");
    assert!(Condition::compile(&doubling(5)).is_err(), "2^5 = 32 is past the limit");
    let small = Condition::compile(&doubling(4)).unwrap();
    assert!(small.evaluate(&json!({"input": {"a": 1}})).unwrap());
    assert!(Condition::compile("map(&[@,@,@,@,@], input.xs)[] | map(&[@,@,@,@], @)").is_err());
    assert!(Condition::compile("join('a separator far too long for growth', input.tags)").is_err());
    assert!(Condition::compile("join(', ', input.tags) == 'a, b'").is_ok());
}

#[test]
fn evaluation_stops_when_its_budget_is_spent() {
    let many: Vec<u32> = vec![0; 500_000];
    let data = json!({"input": {"xs": many}});
    let condition = Condition::compile("length(input.xs[*].a) > `0`").unwrap();
    let error = condition.evaluate(&data).unwrap_err();
    assert!(error.contains("more work"), "{error}");
    // A cheap condition over the same data is fine.
    assert!(Condition::compile("length(input.xs) > `0`").unwrap().evaluate(&data).unwrap());
}
