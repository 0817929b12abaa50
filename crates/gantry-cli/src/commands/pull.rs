//! `gantry pull [REF] --remote NAME`: pull a pack by pack digest, canonical ref, release
//! id, version or latest (optionally of a name); refused when the adapter resolves
//! something other than what was asked for, verified, written atomically.

use crate::console::{errln, outln};
use std::path::PathBuf;

use gantry_remote::{Dialect, PullRef};

use super::remote::{cli_error, open, target, GantryPacks};
use crate::args::PullArgs;
use crate::config::Config;
use crate::exit::{CliError, Outcome};

/// What the arguments ask for, and the default output file name.
fn asked(args: &PullArgs) -> Result<(PullRef, String), CliError> {
    let usage = |e: String| CliError::Usage(e);
    let (asked, stem) = if let Some(r) = &args.reference {
        (
            PullRef::parse(r).map_err(|e| usage(format!("REF: {e}")))?,
            r.clone(),
        )
    } else if let Some(d) = &args.digest {
        let parsed = PullRef::parse(d).map_err(|e| usage(format!("--digest: {e}")))?;
        if parsed.digest.is_none() || parsed.location.is_some() {
            return Err(usage(format!("--digest `{d}` is not `sha256:<64 hex>`")));
        }
        (parsed, d.clone())
    } else if let Some(id) = &args.release_id {
        (PullRef::release_id(id.clone()), id.clone())
    } else if let Some(v) = &args.release_version {
        (PullRef::version(v.clone()), v.clone())
    } else {
        (PullRef::latest(), "latest".to_string())
    };
    let (asked, stem) = match &args.name {
        Some(n) => (asked.named(n.clone()), format!("{n}-{stem}")),
        None => (asked, stem),
    };
    Ok((
        asked,
        format!("{}.pack", stem.replace(['@', ':', '/'], "-")),
    ))
}

/// `gantry pull [REF] --remote NAME`.
pub(crate) async fn pull(args: &PullArgs, config: &Config) -> Result<Outcome, CliError> {
    let (asked, default_output) = asked(args)?;
    let adapter = open(config, &args.remote, args.flags.frozen, Dialect::Gantry)?;
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(default_output));
    let target = target(config, &args.remote, args.environment.as_ref());
    let pulled = gantry_remote::pull(&adapter, &asked, &target, &output, &GantryPacks)
        .await
        .map_err(cli_error)?;
    let p = &pulled.pack;
    let mut release = Vec::new();
    if let Some(n) = &p.name {
        release.push(format!("name {n}"));
    }
    if let Some(v) = &p.version {
        release.push(format!("version {v}"));
    }
    if let Some(id) = &p.release_id {
        release.push(format!("release {id}"));
    }
    outln!(
        "pulled {} from `{}` to {} ({}{}, {} bytes, verified)",
        asked.describe(),
        args.remote,
        pulled.path.display(),
        if release.is_empty() {
            String::new()
        } else {
            format!("{}, ", release.join(", "))
        },
        pulled.file_digest,
        pulled.size_bytes
    );
    if let Some(w) = &pulled.finalize_warning {
        errln!("warning: the pack is in place and verified, but the remote did not record the download: {w}");
    }
    Ok(Outcome::Success)
}
