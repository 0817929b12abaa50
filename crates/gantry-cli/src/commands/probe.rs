//! `gantry probe`: which Docker-compatible runtimes work here, with evidence. The report
//! is also saved in the state dir (`probe.json`), where the wiring reads it to offer only
//! `supported` runtimes as backends.

use crate::console::outln;
use gantry_probe::{probe_all, ProbeOptions, ProbeReport, Status};
use gantry_state::StateDir;

use crate::args::ProbeArgs;
use crate::exit::{CliError, Outcome};

/// Where the last report is kept, inside the state dir.
pub(crate) const REPORT_FILE: &str = "probe.json";

pub(crate) async fn probe(args: &ProbeArgs, state: &StateDir) -> Result<Outcome, CliError> {
    let report = probe_all(&ProbeOptions {
        image: args.image.clone(),
    })
    .await;
    let json = serde_json::to_string_pretty(&report)
        .map_err(|e| CliError::Other(format!("encoding the probe report: {e}")))?;
    std::fs::create_dir_all(&state.root).map_err(|e| CliError::io(state.root.display(), e))?;
    let path = state.root.join(REPORT_FILE);
    std::fs::write(&path, format!("{json}\n")).map_err(|e| CliError::io(path.display(), e))?;
    if args.json {
        outln!("{json}");
    } else {
        print_table(&report);
    }
    Ok(Outcome::Success)
}

fn print_table(report: &ProbeReport) {
    outln!(
        "{:<8} {:<12} {:<16} {:<5} {:<24} checks",
        "runtime",
        "status",
        "version",
        "api",
        "isolation"
    );
    for r in &report.runtimes {
        let isolation = r
            .isolation
            .as_ref()
            .map(|i| {
                let mut parts = vec![i.runtime.clone().unwrap_or_else(|| "?".into())];
                if let Some(v) = &i.cgroup_version {
                    parts.push(format!("cgroup v{v}"));
                }
                if i.rootless {
                    parts.push("rootless".into());
                }
                parts.join(", ")
            })
            .unwrap_or_else(|| "-".into());
        let passed = r.checks.iter().filter(|c| c.passed).count();
        let checks = if r.checks.is_empty() {
            "-".to_string()
        } else {
            format!("{passed}/{} passed", r.checks.len())
        };
        outln!(
            "{:<8} {:<12} {:<16} {:<5} {:<24} {checks}",
            r.name,
            r.status.to_string(),
            r.version.as_deref().unwrap_or("-"),
            r.api_version.as_deref().unwrap_or("-"),
            isolation
        );
        if r.status != Status::Supported {
            for reason in &r.reasons {
                outln!("         {reason}");
            }
        }
    }
}
