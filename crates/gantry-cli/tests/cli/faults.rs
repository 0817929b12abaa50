//! Faults outside the workflow: a full disk fails the step and the run and leaves the
//! ledger consistent.

use gantry_state::{JobStatus, Ledger, RunStatus, StateDir};

use crate::harness::{required, text, Project};

/// A small tmpfs mounted for one test, unmounted when dropped.
struct SmallDisk {
    dir: std::path::PathBuf,
}

impl SmallDisk {
    fn mount(dir: std::path::PathBuf, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(&dir).expect("mount point");
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        required(
            ok,
            "cannot mount a tmpfs (not root?)",
            "run the tests as root",
        )
        .then_some(SmallDisk { dir })
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.dir)
            .status();
    }
}

#[test]
fn a_full_disk_fails_the_step_and_the_run_and_the_ledger_records_every_end() {
    let p = Project::new();
    let Some(disk) = SmallDisk::mount(p.path().join("small"), "5m") else {
        return;
    };
    let state = disk.dir.join("state");
    p.write(
        "wf.yml",
        r#"
jobs:
  flood:
    runs-on: host
    steps:
      - name: prints 20 MB
        run: head -c 20000000 /dev/zero | tr '\0' 'x' | fold -w 100
      - name: next
        run: echo next
      - name: cleanup
        if: always()
        run: echo cleanup-ran > cleanup-ran
  other:
    runs-on: host
    steps:
      - run: echo other
"#,
    );
    let out = p
        .gantry()
        .env("GANTRY_STATE_DIR", &state)
        .args(["run", "--bind", "wf.yml"])
        .output()
        .expect("run gantry");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    let shown: String = all
        .lines()
        .filter(|l| !l.contains("| xxx"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(shown.contains("✗ prints 20 MB"), "{shown}");
    assert!(shown.contains("disk is full"), "{shown}");
    assert!(shown.contains("failure"), "{shown}");
    assert!(
        p.path().join("cleanup-ran").exists(),
        "the always() step ran: {shown}"
    );

    let ledger = Ledger::open(&StateDir::at(&state)).expect("ledger");
    let run = ledger.runs(1).expect("runs").remove(0);
    assert_eq!(run.status, RunStatus::Failure, "{run:?}");
    assert!(
        run.error.as_deref().unwrap_or("").contains("disk is full"),
        "{run:?}"
    );
    let steps = ledger.steps(&run.id, "flood").expect("steps");
    let status: Vec<_> = steps.iter().map(|s| (s.name.as_str(), s.status)).collect();
    assert_eq!(
        status,
        vec![
            ("prints 20 MB", JobStatus::Failure),
            ("next", JobStatus::Skipped),
            ("cleanup", JobStatus::Success),
        ],
        "every step has its final state"
    );
    let jobs = ledger.jobs(&run.id).expect("jobs");
    assert!(
        jobs.iter().all(|j| j.status != JobStatus::Running),
        "{jobs:?}"
    );
}
