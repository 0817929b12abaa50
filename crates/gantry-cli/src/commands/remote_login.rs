//! `gantry remote login NAME`: run the adapter's `auth.login` and see it through.
//!
//! epack's `auth.login` answers with instructions only (a device code to enter at a URL,
//! or a link to open): the sign-in completes out of band and `auth.whoami` reports it.
//! gantry prints the instructions, then asks `auth.whoami` every second until the adapter
//! is authenticated or the code expires. An adapter may also answer with the identity at
//! once (gantry's addition), which ends the login there. A login that did not
//! authenticate is a failure, never "not authenticated" and exit 0.

use crate::console::{errln, outln};
use std::time::{Duration, Instant};

use gantry_remote::protocol::LoginInstructions;
use gantry_remote::{Dialect, RemoteError};

use super::remote::{cli_error, open, print_identity};
use crate::args::RemoteLoginArgs;
use crate::config::Config;
use crate::exit::{CliError, Outcome};

/// How long to wait for a sign-in when the adapter says nothing about it.
const DEFAULT_WAIT: Duration = Duration::from_secs(600);
/// The longest wait, whatever the adapter says.
const MAX_WAIT: Duration = Duration::from_secs(900);
/// How often `auth.whoami` is asked while waiting.
const POLL: Duration = Duration::from_secs(1);

/// The lines telling the user what to do.
fn describe(remote: &str, i: &LoginInstructions) -> Vec<String> {
    let valid = i
        .expires_in_seconds
        .map(|s| format!(" (valid {s}s)"))
        .unwrap_or_default();
    let mut lines = Vec::new();
    match (&i.verification_uri, &i.user_code) {
        (Some(uri), Some(code)) => {
            lines.push(format!("open {uri} and enter the code {code}{valid}"))
        }
        (Some(uri), None) => lines.push(format!("open {uri} to sign in to `{remote}`{valid}")),
        (None, Some(code)) => lines.push(format!(
            "enter the code {code} where `{remote}` asks for it{valid}"
        )),
        (None, None) => {}
    }
    if let Some(url) = &i.authorization_url {
        lines.push(format!("open {url} to sign in to `{remote}`{valid}"));
    }
    lines
}

pub(crate) async fn login(args: &RemoteLoginArgs, config: &Config) -> Result<Outcome, CliError> {
    let name = &args.name;
    let adapter = open(config, name, args.flags.frozen, Dialect::Gantry)?;
    let caps = adapter.capabilities().await.map_err(cli_error)?;
    if !caps.features.auth_login {
        return Err(cli_error(RemoteError::Unsupported {
            adapter: name.clone(),
            feature: "auth.login".into(),
        }));
    }
    let out = adapter.auth_login().await.map_err(cli_error)?;
    let instructions = out.instructions.filter(|i| !i.is_empty());
    let Some(instructions) = instructions else {
        return match out.identity {
            Some(id) if id.authenticated => {
                print_identity(name, &id);
                Ok(Outcome::Success)
            }
            _ => Err(CliError::Other(format!(
                "remote `{name}`: auth.login neither authenticated nor returned sign-in \
                 instructions; see the adapter's documentation"
            ))),
        };
    };
    for line in describe(name, &instructions) {
        outln!("{line}");
    }
    if args.no_wait {
        outln!("then check with `gantry remote whoami {name}`");
        return Ok(Outcome::Success);
    }
    if !caps.features.whoami {
        outln!(
            "{name}: finish the sign-in there; the adapter has no auth.whoami, so gantry cannot \
             tell when it is done"
        );
        return Ok(Outcome::Success);
    }
    let wait = args
        .wait
        .map(Duration::from_secs)
        .or_else(|| instructions.expires_in_seconds.map(Duration::from_secs))
        .unwrap_or(DEFAULT_WAIT)
        .min(MAX_WAIT);
    errln!(
        "waiting up to {}s for the sign-in to complete (Ctrl-C stops waiting)",
        wait.as_secs()
    );
    let deadline = Instant::now() + wait;
    loop {
        let who = adapter.auth_whoami().await.map_err(cli_error)?;
        if who.identity.authenticated {
            print_identity(name, &who.identity);
            return Ok(Outcome::Success);
        }
        if Instant::now() + POLL > deadline {
            return Err(CliError::Other(format!(
                "remote `{name}`: the sign-in was not completed within {}s; run `gantry remote \
                 login {name}` again",
                wait.as_secs()
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}
