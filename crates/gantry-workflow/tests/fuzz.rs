#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Fuzzing the workflow parser for real: arbitrary bytes, YAML-shaped noise, and generated
//! workflows (jobs, needs, matrices, containers, steps, expressions, with hostile values
//! mixed in). Whatever the input, `load` returns a plan or located diagnostics: never a
//! panic, never a span outside the text.
//!
//! The normal test run tries a few hundred cases of each; for a long run:
//! `PROPTEST_CASES=100000 cargo test --release -p gantry-workflow --test fuzz`.
//! (`fuzz/` holds cargo-fuzz targets for coverage-guided runs.)

use gantry_workflow::{load, SourceFile};
use proptest::prelude::*;

fn cases(default: u32) -> ProptestConfig {
    let n = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig::with_cases(n)
}

/// Loads `text` and checks what any result must satisfy.
fn check(text: &str) {
    let source = SourceFile::new("fuzz.yml", text);
    match load(&source) {
        Ok(plan) => {
            let mut keys = std::collections::HashSet::new();
            for job in &plan.jobs {
                assert!(
                    keys.insert(job.key.clone()),
                    "duplicate job key {}",
                    job.key
                );
                assert!(job.strategy.job_total <= 256 + 64);
            }
        }
        Err(diagnostics) => {
            assert!(!diagnostics.is_empty());
            let t = source.text();
            for d in &diagnostics {
                let s = d.span();
                assert!(s.offset <= t.len(), "{d:?} outside {} bytes", t.len());
                assert!(t.is_char_boundary(s.offset), "{d:?} not on a char boundary");
                let (line, col) = d.position(&source);
                assert!(line >= 1 && col >= 1);
                assert!(!d.message().is_empty());
                assert!(
                    d.message().len() < 2_000,
                    "message echoes the input: {}",
                    d.message().len()
                );
            }
        }
    }
}

/// Expressions, well-formed or not, built from the language's pieces.
fn expression() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        Just("1.5e3".to_string()),
        Just("0xff".to_string()),
        Just("'it''s'".to_string()),
        Just("github.ref".to_string()),
        Just("env.NAME".to_string()),
        Just("matrix.os".to_string()),
        Just("matrix.nope".to_string()),
        Just("steps.a.outputs.x".to_string()),
        Just("steps.*.outcome".to_string()),
        Just("needs.b.result".to_string()),
        Just("secrets.T".to_string()),
        Just("nosuch.x".to_string()),
        Just("(".to_string()),
        Just("'unterminated".to_string()),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            (
                inner.clone(),
                inner.clone(),
                prop_oneof![
                    Just("||"),
                    Just("&&"),
                    Just("=="),
                    Just("!="),
                    Just("<"),
                    Just(">=")
                ]
            )
                .prop_map(|(a, b, op)| format!("{a} {op} {b}")),
            inner.clone().prop_map(|a| format!("!{a}")),
            inner.clone().prop_map(|a| format!("({a})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a}[{b}]")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("contains({a}, {b})")),
            inner.clone().prop_map(|a| format!("toJSON({a})")),
            inner.clone().prop_map(|a| format!("fromJSON({a})")),
            (inner.clone(), 1usize..300).prop_map(|(a, n)| vec![a; n].join(" || ")),
        ]
    })
}

/// A scalar value as YAML: plain, quoted, hostile.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9_.:/-]{1,12}",
        Just("~".to_string()),
        Just("true".to_string()),
        Just("''".to_string()),
        Just("1e308".to_string()),
        Just("18446744073709551615".to_string()),
        Just("-1".to_string()),
        Just("'docker://'".to_string()),
        Just("docker://alpine:3".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        expression().prop_map(|e| format!("'${{{{ {} }}}}'", e.replace('\'', "''"))),
        expression().prop_map(|e| format!("'{}'", e.replace('\'', "''"))),
    ]
}

fn step() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("run"), Just("uses"), Just("name"), Just("shell")],
        value(),
        proptest::option::of(value()),
        proptest::option::of(value()),
        proptest::option::of(value()),
        proptest::option::of(prop_oneof![Just("a"), Just("b"), Just("bad id")]),
    )
        .prop_map(|(kind, v, cond, timeout, with, id)| {
            let mut s = format!("      - {kind}: {v}\n");
            if let Some(id) = id {
                s.push_str(&format!("        id: {id}\n"));
            }
            if let Some(c) = cond {
                s.push_str(&format!("        if: {c}\n"));
            }
            if let Some(t) = timeout {
                s.push_str(&format!("        timeout-minutes: {t}\n"));
            }
            if let Some(w) = with {
                s.push_str(&format!("        with:\n          x: {w}\n        retry: {{attempts: 2, delay-seconds: {w}}}\n"));
            }
            s
        })
}

fn job() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("a"), Just("b"), Just("c"), Just("bad id"), Just("_x")],
        proptest::collection::vec(
            prop_oneof![Just("a"), Just("b"), Just("c"), Just("zz")],
            0..3,
        ),
        proptest::option::of((
            proptest::collection::vec(proptest::collection::vec(value(), 0..5), 0..4),
            proptest::collection::vec((0usize..4, value()), 0..3),
            proptest::collection::vec((0usize..5, value()), 0..3),
        )),
        proptest::option::of(value()),
        proptest::option::of(value()),
        proptest::option::of(value()),
        proptest::collection::vec(step(), 0..4),
    )
        .prop_map(
            |(id, needs, matrix, container, service, concurrency, steps)| {
                let mut s = format!("  {id}:\n    runs-on: host\n");
                if !needs.is_empty() {
                    s.push_str(&format!("    needs: [{}]\n", needs.join(", ")));
                }
                if let Some((dims, include, exclude)) = matrix {
                    s.push_str("    strategy:\n      matrix:\n");
                    for (i, values) in dims.iter().enumerate() {
                        s.push_str(&format!("        k{i}: [{}]\n", values.join(", ")));
                    }
                    for (name, entries) in [("include", include), ("exclude", exclude)] {
                        if !entries.is_empty() {
                            s.push_str(&format!("        {name}:\n"));
                            for (k, v) in entries {
                                s.push_str(&format!("          - k{k}: {v}\n"));
                            }
                        }
                    }
                }
                if let Some(c) = container {
                    s.push_str(&format!("    container:\n      image: {c}\n"));
                }
                if let Some(v) = service {
                    s.push_str(&format!("    services:\n      db: {v}\n"));
                }
                if let Some(c) = concurrency {
                    s.push_str(&format!(
                        "    concurrency:\n      group: {c}\n      cancel-in-progress: {c}\n"
                    ));
                }
                s.push_str("    steps:\n");
                for st in steps {
                    s.push_str(&st);
                }
                s
            },
        )
}

fn workflow() -> impl Strategy<Value = String> {
    (
        proptest::option::of(value()),
        proptest::collection::vec(job(), 0..4),
        proptest::option::of(prop_oneof![
            Just("---\njobs: {}\n"),
            Just("\0"),
            Just("\u{feff}"),
            Just("&a x: *a\n"),
            Just("\t- tab\n")
        ]),
    )
        .prop_map(|(name, jobs, trailer)| {
            let mut s = String::new();
            if let Some(n) = name {
                s.push_str(&format!("name: {n}\nrun-name: {n}\nconcurrency: {n}\n"));
            }
            s.push_str("jobs:\n");
            for j in jobs {
                s.push_str(&j);
            }
            if let Some(t) = trailer {
                s.push_str(t);
            }
            s
        })
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        check(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn yaml_shaped_noise_never_panics(text in "[a-z0-9:,\\- \n\t\\[\\]{}'\"#&*!|>~$.()\u{feff}\u{0}é]{0,300}") {
        check(&text);
    }

    #[test]
    fn generated_workflows_load_or_explain(text in workflow()) {
        check(&text);
    }

    #[test]
    fn read_never_panics_on_arbitrary_files(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wf.yml");
        std::fs::write(&path, &bytes).unwrap();
        match SourceFile::read(&path) {
            Ok(source) => check(source.text()),
            Err(d) => prop_assert!(!d.message().is_empty()),
        }
    }
}

/// Deep nesting in every shape YAML has is refused at a place, not by a stack overflow.
#[test]
fn deep_yaml_nesting_is_a_located_error() {
    let n = 100_000;
    for text in [
        format!("jobs: {}", "[".repeat(n)),
        format!("jobs: {}", "{a: ".repeat(n)),
        format!("jobs:\n{}", "- ".repeat(n)),
        (0..3_000)
            .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
            .collect::<String>(),
    ] {
        let source = SourceFile::new("deep.yml", text);
        let handle = std::thread::Builder::new()
            .stack_size(1024 * 1024)
            .spawn(move || load(&source).map(|_| ()).unwrap_err())
            .unwrap();
        let diagnostics = handle.join().unwrap();
        assert!(!diagnostics.is_empty());
    }
}
