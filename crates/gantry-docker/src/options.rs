//! Options: those of a label (`docker://IMAGE?memory=512m&network=none`) and the
//! workflow's `options:` string (docker create flags such as `--health-cmd`).

use std::collections::HashMap;

use bollard::models::{HealthConfig, HostConfig};
use gantry_backend::{BackendError, LabelSpec, PullPolicy};

/// Sandbox and behaviour options from a label.
#[derive(Debug, Clone, Default)]
pub(crate) struct LabelOptions {
    pub pull: PullPolicy,
    pub memory: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub pids: Option<i64>,
    pub network_none: bool,
    pub read_only: bool,
    pub user: Option<String>,
    pub cap_drop_all: bool,
    pub no_new_privileges: bool,
    /// Bind-mount the source tree instead of copying it.
    pub bind: bool,
    /// Run steps through plain Engine API execs instead of the in-container shim.
    pub exec_api: bool,
}

const KNOWN: &[&str] = &[
    "pull",
    "memory",
    "cpus",
    "pids",
    "network",
    "read-only",
    "user",
    "cap-drop",
    "no-new-privileges",
    "bind",
    "exec",
];

fn bad(label: &LabelSpec, reason: String) -> BackendError {
    BackendError::InvalidLabel {
        label: label.label.clone(),
        reason,
    }
}

fn flag(label: &LabelSpec, key: &str, v: &str) -> Result<bool, BackendError> {
    match v {
        "true" | "1" | "yes" | "" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        other => Err(bad(
            label,
            format!("option `{key}`: `{other}` is not true or false"),
        )),
    }
}

/// `512m`, `2g`, `1048576` → bytes.
pub(crate) fn parse_bytes(v: &str) -> Option<i64> {
    let v = v.trim().to_ascii_lowercase();
    let (num, mul) = match v.chars().last()? {
        'k' => (&v[..v.len() - 1], 1i64 << 10),
        'm' => (&v[..v.len() - 1], 1 << 20),
        'g' => (&v[..v.len() - 1], 1 << 30),
        'b' => (&v[..v.len() - 1], 1),
        _ => (v.as_str(), 1),
    };
    let n: f64 = num.parse().ok()?;
    (n.is_finite() && n > 0.0).then_some((n * mul as f64) as i64)
}

impl LabelOptions {
    pub(crate) fn parse(label: &LabelSpec) -> Result<Self, BackendError> {
        let mut o = LabelOptions::default();
        for (k, v) in &label.options {
            match k.as_str() {
                "pull" => {
                    o.pull = match v.as_str() {
                        "never" => PullPolicy::Never,
                        "if-not-present" | "missing" => PullPolicy::IfNotPresent,
                        "always" => PullPolicy::Always,
                        other => {
                            return Err(bad(
                                label,
                                format!(
                                "option `pull`: `{other}` is not never, if-not-present or always"
                            ),
                            ))
                        }
                    }
                }
                "memory" => {
                    o.memory = Some(parse_bytes(v).ok_or_else(|| {
                        bad(
                            label,
                            format!("option `memory`: `{v}` is not a size like 512m"),
                        )
                    })?)
                }
                "cpus" => {
                    let c: f64 = v
                        .parse()
                        .ok()
                        .filter(|c: &f64| c.is_finite() && *c > 0.0)
                        .ok_or_else(|| {
                            bad(
                                label,
                                format!("option `cpus`: `{v}` is not a positive number"),
                            )
                        })?;
                    o.nano_cpus = Some((c * 1e9) as i64);
                }
                "pids" => {
                    o.pids = Some(v.parse().ok().filter(|p: &i64| *p > 0).ok_or_else(|| {
                        bad(
                            label,
                            format!("option `pids`: `{v}` is not a positive integer"),
                        )
                    })?)
                }
                "network" => match v.as_str() {
                    "none" => o.network_none = true,
                    "bridge" | "" => {}
                    other => {
                        return Err(bad(
                            label,
                            format!("option `network`: `{other}` is not none or bridge"),
                        ))
                    }
                },
                "read-only" => o.read_only = flag(label, k, v)?,
                "user" => o.user = Some(v.clone()),
                "cap-drop" => match v.as_str() {
                    "ALL" | "all" => o.cap_drop_all = true,
                    other => {
                        return Err(bad(
                            label,
                            format!("option `cap-drop`: only `ALL` is supported, not `{other}`"),
                        ))
                    }
                },
                "no-new-privileges" => o.no_new_privileges = flag(label, k, v)?,
                "bind" => o.bind = flag(label, k, v)?,
                "exec" => match v.as_str() {
                    "api" => o.exec_api = true,
                    "shim" | "" => o.exec_api = false,
                    other => {
                        return Err(bad(
                            label,
                            format!("option `exec`: `{other}` is not shim or api"),
                        ))
                    }
                },
                other => {
                    return Err(bad(
                        label,
                        format!("unknown option `{other}`; known: {}", KNOWN.join(", ")),
                    ))
                }
            }
        }
        Ok(o)
    }

    /// Applies the sandbox to a container's host config.
    pub(crate) fn apply(&self, host: &mut HostConfig) {
        host.memory = self.memory.or(host.memory);
        host.nano_cpus = self.nano_cpus.or(host.nano_cpus);
        host.pids_limit = self.pids.or(host.pids_limit);
        if self.read_only {
            host.readonly_rootfs = Some(true);
            host.tmpfs
                .get_or_insert_with(HashMap::new)
                .insert("/tmp".into(), "rw,size=256m".into());
        }
        if self.cap_drop_all {
            host.cap_drop = Some(vec!["ALL".into()]);
        }
        if self.no_new_privileges {
            host.security_opt
                .get_or_insert_with(Vec::new)
                .push("no-new-privileges".into());
        }
    }
}

/// What a workflow `options:` string sets.
#[derive(Debug, Clone, Default)]
pub(crate) struct CreateFlags {
    pub env: Vec<String>,
    pub user: Option<String>,
    pub health: Option<HealthConfig>,
    pub memory: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub tmpfs: Vec<String>,
    pub volumes: Vec<String>,
    pub entrypoint: Option<String>,
    /// Sandbox flags (`--pids-limit`, `--network none`, `--read-only`, `--cap-drop ALL`,
    /// `--security-opt no-new-privileges`), laid over the label's options.
    pub pids: Option<i64>,
    pub network_none: Option<bool>,
    pub read_only: bool,
    pub cap_drop_all: bool,
    pub no_new_privileges: bool,
}

impl CreateFlags {
    /// The label's sandbox with this container's own flags laid over it.
    pub(crate) fn sandbox(&self, label: &LabelOptions) -> LabelOptions {
        let mut o = label.clone();
        o.pids = self.pids.or(o.pids);
        o.network_none = self.network_none.unwrap_or(o.network_none);
        o.read_only |= self.read_only;
        o.cap_drop_all |= self.cap_drop_all;
        o.no_new_privileges |= self.no_new_privileges;
        o
    }
}

fn duration_ns(v: &str) -> Option<i64> {
    let v = v.trim();
    let (num, mul) = if let Some(n) = v.strip_suffix("ms") {
        (n, 1e6)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1e9)
    } else if let Some(n) = v.strip_suffix('m') {
        (n, 60e9)
    } else if let Some(n) = v.strip_suffix('h') {
        (n, 3600e9)
    } else {
        (v, 1e9)
    };
    let n: f64 = num.parse().ok()?;
    (n.is_finite() && n >= 0.0).then_some((n * mul) as i64)
}

/// Splits like a POSIX shell (quotes, backslashes) without running one.
pub(crate) fn split_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err("unterminated single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => cur.push(chars.next().ok_or("trailing backslash")?),
                        Some(c) => cur.push(c),
                        None => return Err("unterminated double quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                cur.push(chars.next().ok_or("trailing backslash")?);
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

impl CreateFlags {
    /// Parses the docker create flags gantry supports; anything else is an error naming it.
    pub(crate) fn parse(options: &str) -> Result<Self, String> {
        let words = split_words(options)?;
        let mut f = CreateFlags::default();
        let mut health = HealthConfig::default();
        let mut has_health = false;
        let mut i = 0;
        while i < words.len() {
            let w = &words[i];
            let (name, inline) = match w.split_once('=') {
                Some((n, v)) if n.starts_with('-') => (n.to_string(), Some(v.to_string())),
                _ => (w.clone(), None),
            };
            let mut value = || -> Result<String, String> {
                if let Some(v) = inline.clone() {
                    return Ok(v);
                }
                i += 1;
                words
                    .get(i)
                    .cloned()
                    .ok_or_else(|| format!("option `{name}` needs a value"))
            };
            match name.as_str() {
                "-e" | "--env" => f.env.push(value()?),
                "-u" | "--user" => f.user = Some(value()?),
                "--entrypoint" => f.entrypoint = Some(value()?),
                "-m" | "--memory" => {
                    let v = value()?;
                    f.memory = Some(parse_bytes(&v).ok_or_else(|| format!("--memory `{v}` is not a size"))?);
                }
                "--cpus" => {
                    let v = value()?;
                    let c: f64 = v.parse().map_err(|_| format!("--cpus `{v}` is not a number"))?;
                    f.nano_cpus = Some((c * 1e9) as i64);
                }
                "--tmpfs" => f.tmpfs.push(value()?),
                "--read-only" => f.read_only = inline.as_deref().is_none_or(|v| v == "true"),
                "--pids-limit" => {
                    let v = value()?;
                    f.pids = Some(v.parse().ok().filter(|p: &i64| *p > 0).ok_or_else(|| format!("--pids-limit `{v}` is not a positive integer"))?);
                }
                "--network" | "--net" => {
                    f.network_none = Some(match value()?.as_str() {
                        "none" => true,
                        "bridge" => false,
                        other => return Err(format!("--network `{other}`: gantry puts containers on the job network; only `none` or `bridge` are accepted")),
                    })
                }
                "--cap-drop" => match value()?.as_str() {
                    "ALL" | "all" => f.cap_drop_all = true,
                    other => return Err(format!("--cap-drop `{other}`: only ALL is supported")),
                },
                "--security-opt" => match value()?.as_str() {
                    "no-new-privileges" | "no-new-privileges:true" | "no-new-privileges=true" => f.no_new_privileges = true,
                    other => return Err(format!("--security-opt `{other}`: only no-new-privileges is supported")),
                },
                "-v" | "--volume" => f.volumes.push(value()?),
                "--health-cmd" => {
                    has_health = true;
                    health.test = Some(vec!["CMD-SHELL".into(), value()?]);
                }
                "--health-interval" | "--health-timeout" | "--health-start-period" => {
                    has_health = true;
                    let v = value()?;
                    let ns = duration_ns(&v).ok_or_else(|| format!("{name} `{v}` is not a duration like 2s"))?;
                    match name.as_str() {
                        "--health-interval" => health.interval = Some(ns),
                        "--health-timeout" => health.timeout = Some(ns),
                        _ => health.start_period = Some(ns),
                    }
                }
                "--health-retries" => {
                    has_health = true;
                    let v = value()?;
                    health.retries = Some(v.parse().map_err(|_| format!("--health-retries `{v}` is not a number"))?);
                }
                other => {
                    return Err(format!(
                        "unsupported option `{other}`; gantry supports -e/--env, -u/--user, --entrypoint, --memory, --cpus, --tmpfs, -v/--volume, --read-only, --pids-limit, --network none, --cap-drop ALL, --security-opt no-new-privileges and --health-cmd/-interval/-timeout/-retries/-start-period"
                    ))
                }
            }
            i += 1;
        }
        if has_health {
            f.health = Some(health);
        }
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_flags() {
        let f = CreateFlags::parse("--health-cmd 'nc -z localhost 80' --health-interval=1s --health-retries 5 -e A=b --user 1000").unwrap();
        let h = f.health.unwrap();
        assert_eq!(h.test.unwrap()[1], "nc -z localhost 80");
        assert_eq!((h.interval, h.retries), (Some(1_000_000_000), Some(5)));
        assert_eq!(
            (f.env[0].as_str(), f.user.as_deref()),
            ("A=b", Some("1000"))
        );
        assert!(CreateFlags::parse("--privileged")
            .unwrap_err()
            .contains("--privileged"));
        assert!(CreateFlags::parse("--health-cmd").is_err());
    }

    #[test]
    fn label_options() {
        let l = LabelSpec::parse(
            "x",
            "docker://img?memory=512m&cpus=1.5&network=none&read-only=true&pull=never",
        )
        .unwrap();
        let o = LabelOptions::parse(&l).unwrap();
        assert_eq!(
            (o.memory, o.nano_cpus, o.network_none, o.read_only),
            (Some(512 << 20), Some(1_500_000_000), true, true)
        );
        assert!(
            LabelOptions::parse(&LabelSpec::parse("x", "docker://img?bogus=1").unwrap()).is_err()
        );
        assert!(
            LabelOptions::parse(&LabelSpec::parse("x", "docker://img?memory=lots").unwrap())
                .is_err()
        );
    }
}
