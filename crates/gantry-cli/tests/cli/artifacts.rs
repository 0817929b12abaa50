//! Artifacts through the real binary: across jobs, across backends (host to a Docker
//! job container), from an earlier run, on the local store and on a real S3 server,
//! packs created, verified and caught when tampered, and names or paths that try to
//! escape.

use crate::harness::{docker_available, job, output, step, text, Project};

const ROUND_TRIP: &str = r#"
jobs:
  build:
    runs-on: host
    steps:
      - run: |
          mkdir -p dist/sub dist/skip
          echo one > dist/a.js
          echo two > dist/sub/b.js
          echo not-js > dist/sub/c.txt
          echo skipped > dist/skip/d.js
          ln -s /etc/passwd dist/sub/link.js
      - id: up
        uses: actions/upload-artifact@v4
        with:
          name: dist
          path: |
            dist/**/*.js
            !dist/skip/**
          retention-days: 3
      - run: echo "digest ${{ steps.up.outputs.artifact-digest }}"
  use:
    needs: build
    runs-on: host
    steps:
      - uses: gantry/download-artifact
        with:
          name: dist
          path: got
      - run: find got | sort && cat got/a.js got/sub/b.js
"#;

fn project_with(workflow: &str) -> Project {
    let p = Project::new();
    p.write(".gitignore", "state/\n");
    p.write("wf.yml", workflow);
    p
}

fn run_id(events: &[serde_json::Value]) -> String {
    events
        .iter()
        .find_map(|e| e["run_id"].as_str().map(str::to_string))
        .expect("a run id")
}

#[test]
fn artifacts_move_between_jobs_and_into_packs() {
    let p = project_with(ROUND_TRIP);
    let (out, events) = p.run_json("wf.yml", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let got = output(&events, "use");
    assert!(
        got.contains("got/a.js") && got.contains("got/sub/b.js"),
        "{got}"
    );
    assert!(
        !got.contains("c.txt") && !got.contains("skip") && !got.contains("link"),
        "{got}"
    );
    assert!(got.contains("one\ntwo"), "{got}");
    assert!(output(&events, "build").contains("digest "), "{events:#?}");

    // A pack of the run verifies; one changed byte does not.
    let run = run_id(&events);
    let pack = p.path().join("release.pack");
    let out = p.run(&[
        "pack",
        "create",
        "--run",
        &run,
        "-o",
        pack.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = p.run(&["pack", "verify", pack.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("every digest matches"));
    let mut bytes = std::fs::read(&pack).expect("pack");
    let at = bytes
        .windows(4)
        .position(|w| w == b"one\n")
        .expect("file contents in the pack");
    bytes[at] = b'X';
    std::fs::write(&pack, bytes).expect("tamper");
    let out = p.run(&["pack", "verify", pack.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("file `a.js`") && err.contains("the pack's sha256"),
        "{err}"
    );

    // A later run downloads from this one.
    p.write(
        "later.yml",
        "jobs:\n  later:\n    runs-on: host\n    steps:\n      - uses: actions/download-artifact@v4\n        with:\n          name: dist\n          run-id: ${{ vars.prev }}\n      - run: cat a.js\n",
    );
    let (out, events) = p.run_json("later.yml", &["--var", &format!("prev={run}")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(output(&events, "later").contains("one"), "{events:#?}");
}

#[test]
fn names_and_paths_cannot_escape_and_missing_files_can_fail() {
    let p = project_with(
        r#"
jobs:
  bad:
    runs-on: host
    steps:
      - name: dotdot name
        continue-on-error: true
        uses: actions/upload-artifact@v4
        with:
          name: ../../evil
          path: wf.yml
      - name: dotdot path
        continue-on-error: true
        uses: actions/upload-artifact@v4
        with:
          name: x
          path: ../outside
      - name: absolute path
        continue-on-error: true
        uses: actions/upload-artifact@v4
        with:
          name: y
          path: /etc/passwd
      - name: nothing there
        uses: actions/upload-artifact@v4
        with:
          name: z
          path: no/such/dir
          if-no-files-found: error
"#,
    );
    let (out, events) = p.run_json("wf.yml", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    for (name, needle) in [
        ("dotdot name", "may hold only"),
        ("dotdot path", "leaves the workspace"),
        ("absolute path", "is absolute"),
        ("nothing there", "no files found"),
    ] {
        let s = step(&events, "bad", name);
        assert_eq!(s["outcome"], "failure", "{name}: {s}");
        let all = serde_json::to_string(&events).expect("json");
        assert!(all.contains(needle), "{name}: no `{needle}` in {all}");
    }
    assert_eq!(job(&events, "bad")["conclusion"], "failure");
    // Nothing escaped into the state dir's parents.
    assert!(!p.path().join("evil").exists() && !p.path().join("../evil").exists());
}

#[test]
fn artifacts_cross_from_the_host_into_a_container() {
    if !docker_available() {
        return;
    }
    let p = project_with(
        r#"
jobs:
  build:
    runs-on: host
    steps:
      - run: mkdir -p out && echo from-host > out/report.txt
      - uses: actions/upload-artifact@v4
        with:
          name: report
          path: out/report.txt
  check:
    needs: build
    runs-on: boxed
    steps:
      - uses: actions/download-artifact@v4
        with:
          name: report
      - run: test -f /.dockerenv && cat report.txt
      - run: mkdir -p back && echo from-container > back/x.txt
      - uses: actions/upload-artifact@v4
        with:
          name: back
          path: back
  home:
    needs: check
    runs-on: host
    steps:
      - uses: actions/download-artifact@v4
      - run: cat back/x.txt report/report.txt
"#,
    );
    let (out, events) = p.run_json("wf.yml", &["-P", "boxed=docker://gantry-test/busybox:1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        output(&events, "check").contains("from-host"),
        "{events:#?}"
    );
    let home = output(&events, "home");
    assert!(
        home.contains("from-container") && home.contains("from-host"),
        "{home}"
    );
}

/// Whether the S3 server of scripts/setup-s3.sh answers; under CI=true it must.
fn s3_available() -> bool {
    crate::harness::required(
        std::net::TcpStream::connect("127.0.0.1:9000").is_ok(),
        "no S3 server on 127.0.0.1:9000",
        "run scripts/setup-s3.sh",
    )
}

#[test]
fn artifacts_round_trip_through_an_s3_server() {
    if !s3_available() {
        return;
    }
    let p = project_with(ROUND_TRIP);
    let prefix = format!("cli-test-{}", std::process::id());
    p.write(
        "gantry.toml",
        &format!(
            "[artifacts]\nstore = \"s3\"\n\n[artifacts.s3]\nendpoint = \"http://127.0.0.1:9000\"\nbucket = \"gantry-test\"\nprefix = \"{prefix}\"\n"
        ),
    );
    let out = p
        .gantry()
        .args(["run", "--json", "wf.yml"])
        .env("AWS_ACCESS_KEY_ID", "gantry-test")
        .env("AWS_SECRET_ACCESS_KEY", "gantry-test-secret")
        .output()
        .expect("run gantry");
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(output(&events, "use").contains("one\ntwo"), "{events:#?}");
    let run = run_id(&events);
    let stored = std::path::Path::new("/var/lib/gantry-s3/gantry-test")
        .join(&prefix)
        .join(format!("runs/{run}/artifacts/dist.tar"));
    if std::path::Path::new("/var/lib/gantry-s3").exists() {
        assert!(stored.exists(), "{} is not in the bucket", stored.display());
    }
    // Without credentials the store is refused with the variable to set.
    let out = p.run(&["run", "wf.yml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("AWS_ACCESS_KEY_ID"),
        "{}",
        text(&out)
    );
}
