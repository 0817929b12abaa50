//! Expression semantics, table-driven, with GitHub's documented examples.

use proptest::prelude::*;
use serde_json::json;

use super::*;

fn ctx() -> EvalContext {
    let mut contexts = IndexMap::new();
    contexts.insert(
        "github".into(),
        json!({"ref": "refs/heads/main", "event_name": "push", "event": {"issue": {"labels": [{"name": "bug"}, {"name": "ui"}]},
               "issues": [{"labels": [{"name": "a"}, {"name": "b"}]}, {"labels": [{"name": "c"}]}]}}),
    );
    contexts.insert(
        "env".into(),
        json!({"NAME": "World", "EMPTY": "", "NUM": "42"}),
    );
    contexts.insert(
        "matrix".into(),
        json!({"os": "linux", "n": 2, "list": [1, 2, 3], "obj": {"k": "v"}}),
    );
    contexts.insert(
        "steps".into(),
        json!({"build": {"outcome": "success", "outputs": {"x": "1"}}, "my-step": {"outcome": "failure", "outputs": {}}}),
    );
    contexts.insert(
        "strategy".into(),
        json!({"job-index": 1, "fail-fast": true}),
    );
    EvalContext {
        contexts,
        status: JobStatus::Success,
        workspace: None,
    }
}

fn ev(text: &str) -> Value {
    parse(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .eval(&ctx())
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[test]
fn literals_and_operators() {
    let cases: &[(&str, Value)] = &[
        ("null", json!(null)),
        ("true", json!(true)),
        ("42", json!(42)),
        ("-9.5", json!(-9.5)),
        ("0xff", json!(255)),
        ("2e3", json!(2000)),
        ("'it''s'", json!("it's")),
        ("1 == 1.0", json!(true)),
        ("'abc' == 'ABC'", json!(true)),
        ("null == 0", json!(true)),
        ("'' == 0", json!(true)),
        ("'1' == 1", json!(true)),
        ("true == 1", json!(true)),
        ("'x' == 1", json!(false)),
        ("'x' != 1", json!(true)),
        ("1 < 2 && 2 <= 2", json!(true)),
        ("'a' < 'B'", json!(true)),
        ("'3' > 2", json!(true)),
        ("!0", json!(true)),
        ("!'false'", json!(false)),
        ("null && 'x'", json!(null)),
        ("'a' && 'b'", json!("b")),
        ("'' || 'default'", json!("default")),
        ("0 || null", json!(null)),
        ("(1 == 1) && !(2 == 3)", json!(true)),
        ("matrix.list == matrix.list", json!(false)),
        ("1 < 'x'", json!(false)),
        ("1 >= 'x'", json!(false)),
    ];
    for (text, want) in cases {
        assert_eq!(&ev(text), want, "{text}");
    }
}

#[test]
fn contexts_properties_and_filters() {
    assert_eq!(ev("github.ref"), json!("refs/heads/main"));
    assert_eq!(ev("GITHUB.REF"), json!("refs/heads/main"));
    assert_eq!(ev("github['event_name']"), json!("push"));
    assert_eq!(ev("env.MISSING"), json!(null));
    assert_eq!(ev("nosuch.thing.deeper"), json!(null));
    assert_eq!(ev("matrix.list[1]"), json!(2));
    assert_eq!(ev("matrix.list[9]"), json!(null));
    assert_eq!(ev("steps.my-step.outcome"), json!("failure"));
    assert_eq!(ev("strategy.job-index"), json!(1));
    assert_eq!(ev("github.event.issue.labels.*.name"), json!(["bug", "ui"]));
    assert_eq!(
        ev("github.event.issues.*.labels.*.name"),
        json!(["a", "b", "c"])
    );
    assert_eq!(ev("steps.*.outcome"), json!(["success", "failure"]));
    assert_eq!(
        ev("contains(github.event.issue.labels.*.name, 'BUG')"),
        json!(true)
    );
}

#[test]
fn functions() {
    let cases: &[(&str, Value)] = &[
        ("contains('Hello world', 'llo')", json!(true)),
        ("contains('Hello', 'xyz')", json!(false)),
        ("contains(matrix.list, '2')", json!(true)),
        ("startsWith('Hello world', 'he')", json!(true)),
        ("endsWith('Hello world', 'LD')", json!(true)),
        (
            "format('Hello {0} {1} {2}', 'Mona', 'the', 'Octocat')",
            json!("Hello Mona the Octocat"),
        ),
        (
            "format('{{Hello {0} {1} {2}!}}', 'Mona', 'the', 'Octocat')",
            json!("{Hello Mona the Octocat!}"),
        ),
        ("format('{0}', matrix.n)", json!("2")),
        ("join(matrix.list, ', ')", json!("1, 2, 3")),
        ("join(matrix.list)", json!("1,2,3")),
        ("join('single')", json!("single")),
        ("toJSON(matrix.obj)", json!("{\n  \"k\": \"v\"\n}")),
        ("fromJSON('{\"a\": [1, true]}').a[1]", json!(true)),
        ("fromJSON(env.NUM) + 0 == 42", json!(false)),
        ("fromJSON(env.NUM) == 42", json!(true)),
        ("success()", json!(true)),
        ("failure()", json!(false)),
        ("always()", json!(true)),
        ("CANCELLED()", json!(false)),
    ];
    for (text, want) in cases {
        match parse(text) {
            Ok(e) => assert_eq!(&e.eval(&ctx()).unwrap(), want, "{text}"),
            Err(_) if text.contains("+ 0") => {}
            Err(e) => panic!("{text}: {e}"),
        }
    }
}

#[test]
fn display_strings() {
    assert_eq!(to_display_string(&json!(null)), "");
    assert_eq!(to_display_string(&json!(1.0)), "1");
    assert_eq!(to_display_string(&json!(1.5)), "1.5");
    assert_eq!(to_display_string(&json!([1])), "Array");
    assert_eq!(to_display_string(&json!({})), "Object");
    assert_eq!(to_display_string(&json!(123456789012_i64)), "123456789012");
}

#[test]
fn parse_errors_point_at_the_token() {
    let e = parse("github.ref == ").unwrap_err();
    assert_eq!(e.offset, 14, "{e}");
    let e = parse("a = b").unwrap_err();
    assert_eq!((e.offset, e.message.contains("==")), (2, true));
    let e = parse("\"x\"").unwrap_err();
    assert!(e.message.contains("single quotes"));
    let e = parse("contans('a', 'b')").unwrap_err();
    assert!(e.message.contains("did you mean `contains`"), "{e}");
    let e = parse("contains('a')").unwrap_err();
    assert!(e.message.contains("takes 2 arguments"), "{e}");
    assert!(parse("").is_err());
    assert!(parse("(1").is_err());
    assert!(parse("a.").is_err());
    assert!(parse(&"(".repeat(500)).is_err());
    assert!(parse(&"!".repeat(500)).is_err());
    let e = Template::parse("echo ${{ 1 + }}").unwrap_err();
    assert_eq!(e.offset, 11, "{e}");
    let e = Template::parse("echo ${{ github.ref").unwrap_err();
    assert_eq!(e.offset, 5);
}

#[test]
fn templates_and_conditions() {
    let t = Template::parse("Hello ${{ env.NAME }}! ${{ '}}' }} ${{ matrix.n }}").unwrap();
    assert_eq!(t.render(&ctx()).unwrap(), "Hello World! }} 2");
    assert_eq!(
        Template::parse("${{ matrix.list }}")
            .unwrap()
            .evaluate(&ctx())
            .unwrap(),
        json!([1, 2, 3])
    );
    assert_eq!(
        Template::parse(" plain ").unwrap().render(&ctx()).unwrap(),
        " plain "
    );
    assert!(Template::parse("no exprs").unwrap().is_literal());

    let mut c = ctx();
    assert!(condition("github.event_name == 'push'", &c).unwrap());
    assert!(condition("${{ github.event_name == 'push' }}", &c).unwrap());
    assert!(!condition("${{ false }}", &c).unwrap());
    assert!(condition("", &c).unwrap());
    // Literal text around ${{ }} makes a non-empty string: truthy, as in GitHub.
    assert!(condition("${{ false }} == true", &c).unwrap());
    c.status = JobStatus::Failure;
    assert!(!condition("true", &c).unwrap(), "implicit success()");
    assert!(condition("failure()", &c).unwrap());
    assert!(condition("always() && env.NAME == 'world'", &c).unwrap());
    c.status = JobStatus::Cancelled;
    assert!(condition("cancelled()", &c).unwrap());
    assert!(!condition("success()", &c).unwrap());
}

#[test]
fn references_and_status_functions() {
    let e = parse("steps.build.outputs.x == needs.a.result || matrix['os'] && steps.*.outcome && env[matrix.k]").unwrap();
    let paths: Vec<Vec<String>> = e.references().into_iter().map(|r| r.path).collect();
    let want: Vec<Vec<&str>> = vec![
        vec!["steps", "build", "outputs", "x"],
        vec!["needs", "a", "result"],
        vec!["matrix", "os"],
        vec!["steps"],
        vec!["env"],
        vec!["matrix", "k"],
    ];
    assert_eq!(paths, want);
    let r = &parse("  env.X").unwrap().references()[0];
    assert_eq!((r.offset, r.len), (2, 5));
    assert!(parse("always()").unwrap().uses_status_function());
    assert!(!parse("contains('a', 'b')").unwrap().uses_status_function());
}

#[test]
fn format_errors_and_fromjson_errors() {
    let c = ctx();
    assert!(parse("format('{1}', 'a')").unwrap().eval(&c).is_err());
    assert!(parse("format('{', 'a')").unwrap().eval(&c).is_err());
    assert!(parse("fromJSON('{nope')")
        .unwrap()
        .eval(&c)
        .unwrap_err()
        .0
        .contains("fromJSON"));
}

#[test]
fn hash_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("src/deep")).unwrap();
    std::fs::write(dir.path().join("src/a.rs"), "a").unwrap();
    std::fs::write(dir.path().join("src/deep/b.rs"), "b").unwrap();
    std::fs::write(dir.path().join("Cargo.lock"), "lock").unwrap();
    let mut c = ctx();
    c.workspace = Some(dir.path().to_path_buf());
    let h = |e: &str| parse(e).unwrap().eval(&c).unwrap();
    let all = h("hashFiles('**/*.rs')");
    assert_eq!(all.as_str().map(str::len), Some(64));
    assert_ne!(all, h("hashFiles('**/*.rs', '!src/deep/**')"));
    assert_eq!(h("hashFiles('*.nothing')"), json!(""));
    assert_eq!(h("hashFiles('Cargo.lock')"), h("hashFiles('./Cargo.lock')"));
    c.workspace = None;
    assert!(parse("hashFiles('x')").unwrap().eval(&c).is_err());
}

/// Runs `f` on a thread with a small stack (the engine evaluates on tokio's 2 MiB worker
/// threads): a recursion that grows with the input overflows here and aborts the test.
fn on_small_stack<T: Send + 'static>(stack: usize, f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(stack)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

/// Issue 10: a 2000-operand `||` validated, then overflowed the stack at run time; 50k
/// operands overflowed `validate`. Every chain is now one node, however long.
#[test]
fn long_chains_parse_and_evaluate_without_overflowing_the_stack() {
    let n = 50_000;
    let cases: Vec<(String, Value)> = vec![
        (vec!["github.ref == 'x'"; n].join(" || "), json!(false)),
        (
            format!("{} || 'last'", vec!["env.EMPTY"; n].join(" || ")),
            json!("last"),
        ),
        (vec!["env.NAME"; n].join(" && "), json!("World")),
        (vec!["1"; n].join(" == "), json!(true)),
        (vec!["1"; n].join(" <= "), json!(true)),
        (format!("github{}", ".event".repeat(n)), json!(null)),
        (format!("matrix.list{}", "[0]".repeat(n)), json!(null)),
        (format!("{}true", "!".repeat(n + 1)), json!(false)),
        (format!("steps{}", ".*".repeat(n)), json!([])),
    ];
    for (text, want) in cases {
        let shown = text.clone();
        let head: String = text.chars().take(30).collect();
        // A eighth of a tokio worker's stack: chains use none of it.
        let got = on_small_stack(256 * 1024, move || {
            let e = parse(&text).unwrap_or_else(|e| panic!("{head}: {e}"));
            let refs = e.references().len();
            let copy = e.clone();
            assert!(copy == e);
            let v = e.eval(&ctx()).unwrap();
            let c = condition(&text, &ctx()).unwrap();
            let t = Template::parse(&format!("${{{{ {text} }}}}")).unwrap();
            let _ = t.render(&ctx()).unwrap();
            drop((e, copy, t));
            (v, refs, c)
        });
        assert_eq!(got.0, want, "{}", &shown[..30]);
        assert_eq!(got.1 > 0, shown.contains('.'), "{}", &shown[..30]);
        assert_eq!(got.2, truthy(&want));
    }
}

/// Real nesting (parentheses, calls, index expressions) is limited, with an error at the
/// place it goes too deep; the deepest accepted nesting evaluates on a small stack.
#[test]
fn nesting_past_the_limit_is_a_located_error() {
    let max = parser::MAX_DEPTH;
    for (open, close) in [("(", ")"), ("format('{0}', ", ")"), ("matrix.list[", "]")] {
        let deep = format!("{}1{}", open.repeat(max), close.repeat(max));
        let e = parse(&deep).unwrap_err();
        assert!(e.message.contains("nests deeper than"), "{e}");
        let opener = open.len() * (max - 1)..open.len() * max;
        assert!(opener.contains(&e.offset), "{open}: {e:?}");
        let ok = format!("{}1{}", open.repeat(max - 1), close.repeat(max - 1));
        // Half a tokio worker's stack, in a debug build.
        on_small_stack(1024 * 1024, move || {
            let e = parse(&ok).unwrap();
            let _ = e.eval(&ctx()).unwrap();
            let _ = e.references();
        });
    }
}

/// Well-formed expressions built from the grammar: every piece of the language, nested
/// and chained.
fn well_formed() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        Just("false".to_string()),
        (-1000i64..1000).prop_map(|n| n.to_string()),
        Just("1.5e3".to_string()),
        Just("0xff".to_string()),
        "[a-zA-Z {}]{0,8}".prop_map(|s| format!("'{s}'")),
        Just("github.ref".to_string()),
        Just("github.event.issue.labels.*.name".to_string()),
        Just("env.NAME".to_string()),
        Just("matrix.list".to_string()),
        Just("matrix['os']".to_string()),
        Just("steps.*.outcome".to_string()),
        Just("strategy.job-index".to_string()),
    ];
    leaf.prop_recursive(6, 64, 4, |inner| {
        let op = prop_oneof![
            Just("||"),
            Just("&&"),
            Just("=="),
            Just("!="),
            Just("<"),
            Just("<="),
            Just(">"),
            Just(">=")
        ];
        prop_oneof![
            (proptest::collection::vec(inner.clone(), 2..6), op)
                .prop_map(|(items, op)| items.join(&format!(" {op} "))),
            (1usize..4, inner.clone()).prop_map(|(n, a)| format!("{}({a})", "!".repeat(n))),
            inner.clone().prop_map(|a| format!("({a})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a})[{b}]")),
            inner.clone().prop_map(|a| format!("({a}).name.*")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("contains({a}, {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("startsWith({a}, {b})")),
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| format!("format('{{0}}-{{1}}', {a}, {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("join({a}, {b})")),
            inner.clone().prop_map(|a| format!("toJSON({a})")),
            inner.clone().prop_map(|a| format!("fromJSON(toJSON({a}))")),
            Just("success() || failure() && always() || cancelled()".to_string()),
        ]
    })
}

fn cases(default: u32) -> ProptestConfig {
    let n = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig::with_cases(n)
}

proptest! {
    #![proptest_config(cases(512))]

    /// Generated expressions parse, evaluate without panicking, report references inside
    /// the text, and parse the same way twice; as a template and a condition too.
    #[test]
    fn generated_expressions_parse_and_evaluate(text in well_formed()) {
        let e = parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(&parse(&text).unwrap(), &e);
        let _ = e.eval(&ctx());
        for r in e.references() {
            prop_assert!(r.offset + r.len <= text.len());
            prop_assert!(text.is_char_boundary(r.offset));
        }
        let t = Template::parse(&format!("x ${{{{ {text} }}}} y")).unwrap();
        let _ = t.render(&ctx());
        let _ = condition(&text, &ctx());
    }

    /// Arbitrary bytes (as text) never panic any entry point.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(e) = parse(&text) {
            let _ = e.eval(&ctx());
            let _ = e.references();
        }
        if let Ok(t) = Template::parse(&text) {
            let _ = t.render(&ctx());
        }
        let _ = condition(&text, &ctx());
    }
}

proptest! {
    #[test]
    fn never_panics(text in "\\PC{0,60}") {
        if let Ok(e) = parse(&text) {
            let _ = e.eval(&ctx());
            let _ = e.references();
        }
        if let Ok(t) = Template::parse(&text) {
            let _ = t.render(&ctx());
        }
        let _ = condition(&text, &ctx());
    }

    #[test]
    fn never_panics_on_expression_like_input(text in "[a-z0-9_.*\\[\\]()'!=<>&| ,-]{0,60}") {
        if let Ok(e) = parse(&text) {
            let _ = e.eval(&ctx());
        }
        let _ = condition(&text, &ctx());
        let _ = Template::parse(&format!("x ${{{{ {text} }}}} y"));
    }
}
