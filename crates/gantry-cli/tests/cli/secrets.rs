//! Secrets: masked in output (even split across chunks), events, logs, outputs and the
//! ledger; passed through the environment only.

use crate::harness::{text, Project};

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
