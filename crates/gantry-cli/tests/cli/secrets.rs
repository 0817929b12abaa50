//! Secrets: masked in output (even split across chunks), events, logs, outputs and the
//! ledger; passed through the environment only.

use crate::harness::{of, output, step, text, Project};

const SECRET: &str = "super-s3cret-value";

fn workflow(p: &Project) {
    p.write(
        "wf.yml",
        r#"
jobs:
  leak:
    runs-on: host
    outputs:
      token: ${{ steps.out.outputs.token }}
    steps:
      - name: split across chunks
        env:
          TOKEN: ${{ secrets.TOKEN }}
        run: |
          printf 'sup'; sleep 0.3; printf 'er-s3cret-value\n'
          echo "whole: $TOKEN"
          echo "argv: $(tr '\0' ' ' < /proc/$$/cmdline)"
      - id: out
        run: echo "token=${{ secrets.TOKEN }}" >> "$GANTRY_OUTPUT"
      - name: from file
        run: echo "file secret ${{ secrets.OTHER }}"
"#,
    );
    p.write("secrets.env", "# comment\nOTHER=another-hidden-one\n");
}

#[test]
fn secrets_are_masked_everywhere() {
    let p = Project::new();
    workflow(&p);
    for json in [false, true] {
        let mut cmd = p.gantry();
        cmd.args(["run", "--secret", "TOKEN", "--secret-file", "secrets.env"])
            .env("TOKEN", SECRET);
        if json {
            cmd.arg("--json");
        }
        let out = cmd.arg("wf.yml").output().expect("run");
        let all = text(&out);
        assert!(out.status.success(), "{all}");
        assert!(!all.contains(SECRET), "secret leaked:\n{all}");
        assert!(
            !all.contains("another-hidden-one"),
            "file secret leaked:\n{all}"
        );
        assert!(all.contains("whole: ***"), "{all}");
        assert!(all.contains("file secret ***"), "{all}");
        assert!(
            !all.contains("argv:") || !all.contains(&SECRET[..8]),
            "{all}"
        );
    }
    // Logs and the ledger hold only masked text.
    let logs = p.run(&["logs", "last"]);
    let logs_text = text(&logs);
    assert!(logs.status.success(), "{logs_text}");
    assert!(logs_text.contains("whole: ***"), "{logs_text}");
    assert!(!logs_text.contains(SECRET));
    for entry in walk(&p.state()) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        let hay = String::from_utf8_lossy(&bytes);
        assert!(
            !hay.contains(SECRET),
            "secret stored in {}",
            entry.display()
        );
    }
}

#[test]
fn secrets_never_come_from_argv() {
    let p = Project::new();
    workflow(&p);
    let out = p.run(&["run", "--secret", "TOKEN=inline", "wf.yml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = p
        .gantry()
        .args(["run", "--secret", "MISSING_SECRET_VAR", "wf.yml"])
        .env_remove("MISSING_SECRET_VAR")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("MISSING_SECRET_VAR"));
}

/// `::add-mask::` and the other workflow commands GitHub's runner reads from step output.
#[test]
fn workflow_commands_mask_annotate_group_and_set_outputs() {
    let p = Project::new();
    p.write(
        "wf.yml",
        r#"
jobs:
  cmds:
    runs-on: host
    steps:
      - id: gen
        name: generate
        shell: bash
        run: |
          token="gen-$$-$RANDOM-tok"
          echo "$token" > token.txt
          echo "::add-mask::$token"
          echo "minted $token"
          echo "token=$token" >> "$GITHUB_OUTPUT"
          echo "::set-output name=legacy::from-the-command"
          echo "::group::Compile"
          echo "::error file=src/a.rs,line=3,col=7,title=E0308::mismatched types"
          echo "::warning::careful"
          echo "::debug::not shown without ACTIONS_STEP_DEBUG"
          echo "::endgroup::"
          echo "::stop-commands::pause-1"
          echo "::warning::printed as is"
          echo "::pause-1::"
          echo "$token" >&2
      - name: later
        run: |
          echo "later ${{ steps.gen.outputs.token }} and $(cat token.txt)"
          echo "legacy=${{ steps.gen.outputs.legacy }}"
"#,
    );
    let (out, events) = p.run_json("wf.yml", &[]);
    assert!(out.status.success(), "{}", text(&out));
    let all = output(&events, "cmds");
    assert!(all.contains("minted ***"), "{all}");
    assert!(all.contains("later *** and ***"), "{all}");
    assert!(all.contains("legacy=from-the-command"), "{all}");
    assert!(all.contains("> Compile"), "{all}");
    assert!(all.contains("::warning::printed as is"), "{all}");
    assert!(!all.contains("::add-mask::"), "{all}");
    assert!(!all.contains("not shown"), "{all}");
    let raw = String::from_utf8_lossy(&out.stdout);
    assert!(!raw.contains("-tok"), "the masked value leaked:\n{raw}");

    let messages: Vec<String> = of(&events, "message")
        .into_iter()
        .map(|m| format!("{} {}", m["level"], m["message"].as_str().unwrap_or("")))
        .collect();
    assert!(
        messages.contains(&"\"error\" src/a.rs:3:7: E0308: mismatched types".to_string()),
        "{messages:?}"
    );
    assert!(
        messages.contains(&"\"warning\" careful".to_string()),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("`::set-output` is deprecated")),
        "{messages:?}"
    );
    let outputs = &step(&events, "cmds", "generate")["outputs"];
    assert_eq!(outputs["token"], "***");
    assert_eq!(outputs["legacy"], "from-the-command");

    // Logs and the ledger keep nothing unmasked.
    let logs = p.run(&["logs", "last"]);
    assert!(!text(&logs).contains("-tok"), "{}", text(&logs));
    for entry in walk(&p.state()) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains("-tok"),
            "masked value stored in {}",
            entry.display()
        );
    }

    // GitHub's debug switch shows `::debug::` lines.
    let (out, events) = p.run_json("wf.yml", &["--var", "ACTIONS_STEP_DEBUG=true"]);
    assert!(out.status.success(), "{}", text(&out));
    let all = output(&events, "cmds");
    assert!(
        all.contains("debug: not shown without ACTIONS_STEP_DEBUG"),
        "{all}"
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn a_secret_in_a_step_name_is_masked_on_the_terminal_in_events_logs_and_the_ledger() {
    let p = Project::new();
    p.write(
        "wf.yml",
        r#"
jobs:
  named:
    runs-on: host
    steps:
      - name: deploy with ${{ secrets.TOKEN }}
        run: echo deployed
      - name: fails with ${{ secrets.TOKEN }}
        run: exit 3
"#,
    );
    for json in [false, true] {
        let mut cmd = p.gantry();
        cmd.args(["run", "--secret", "TOKEN"]).env("TOKEN", SECRET);
        if json {
            cmd.arg("--json");
        }
        let out = cmd.arg("wf.yml").output().expect("run");
        let all = text(&out);
        assert_eq!(out.status.code(), Some(1), "{all}");
        assert!(!all.contains(SECRET), "secret leaked:\n{all}");
        assert!(all.contains("deploy with ***"), "{all}");
    }
    let logs = p.run(&["logs", "last"]);
    let logs_text = text(&logs);
    assert!(logs_text.contains("deploy with ***"), "{logs_text}");
    assert!(!logs_text.contains(SECRET), "{logs_text}");
    for entry in walk(&p.state()) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(SECRET),
            "secret stored in {}",
            entry.display()
        );
    }
}

#[test]
fn a_secret_split_across_stdout_and_stderr_is_masked() {
    let p = Project::new();
    p.write(
        "wf.yml",
        r#"
jobs:
  split:
    runs-on: host
    steps:
      - env:
          T: ${{ secrets.TOKEN }}
        shell: bash
        run: |
          printf '%s' "${T:0:7}"; printf '%s\n' "${T:7}" >&2
          printf '%s' "${T:0:9}" >&2; sleep 0.2; printf '%s\n' "${T:9}"
"#,
    );
    for json in [false, true] {
        let mut cmd = p.gantry();
        cmd.args(["run", "--secret", "TOKEN"]).env("TOKEN", SECRET);
        if json {
            cmd.arg("--json");
        }
        let out = cmd.arg("wf.yml").output().expect("run");
        let all = text(&out);
        assert!(out.status.success(), "{all}");
        // Both halves are gone: the masker saw the interleaving, not two halves.
        assert!(!all.contains(&SECRET[..7]), "first half shown:\n{all}");
        assert!(!all.contains(&SECRET[9..]), "second half shown:\n{all}");
        let shown = if json {
            output(&json_events(&out), "split")
        } else {
            all.clone()
        };
        assert!(shown.contains("***"), "{all}");
    }
    let logs = p.run(&["logs", "last"]);
    let logs_text = String::from_utf8_lossy(&logs.stdout).to_string();
    assert!(
        !logs_text.contains(&SECRET[..7]) && !logs_text.contains(&SECRET[9..]),
        "{logs_text}"
    );
}

fn json_events(out: &std::process::Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}
