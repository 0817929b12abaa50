//! How a `run:` script becomes a command line, following GitHub's `shell:` rules.

/// A shell choice resolved to an argv template and the script file extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellCommand {
    /// Arguments with `{0}` standing for the script path.
    pub template: Vec<String>,
    /// Script file extension (`.sh`, `.py`).
    pub extension: &'static str,
}

/// An unusable `shell:` value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("shell `{shell}`: {reason}")]
pub struct ShellError {
    /// The `shell:` value.
    pub shell: String,
    /// Why it cannot be used.
    pub reason: String,
}

/// Resolves `shell:`. Without a shell GitHub uses bash when the target has it and sh
/// otherwise; the engine asks the target once per job and passes the answer here.
pub fn resolve(shell: Option<&str>) -> Result<ShellCommand, ShellError> {
    let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    let shell = shell.map(str::trim).unwrap_or("sh");
    let cmd = match shell {
        "bash" => ShellCommand { template: words("bash --noprofile --norc -eo pipefail {0}"), extension: ".sh" },
        "sh" => ShellCommand { template: words("sh -e {0}"), extension: ".sh" },
        "python" => ShellCommand { template: words("python3 {0}"), extension: ".py" },
        "pwsh" => ShellCommand { template: words("pwsh -command . '{0}'"), extension: ".ps1" },
        "powershell" => ShellCommand { template: words("powershell -command . '{0}'"), extension: ".ps1" },
        "cmd" => {
            return Err(ShellError {
                shell: shell.into(),
                reason: "cmd runs only on Windows runners".into(),
            })
        }
        custom if custom.contains("{0}") => {
            let template = words(custom);
            if template.first().is_some_and(|w| w.contains("{0}")) {
                return Err(ShellError {
                    shell: shell.into(),
                    reason: "the template must start with a program, e.g. `perl {0}`".into(),
                });
            }
            ShellCommand { template, extension: "" }
        }
        other => {
            return Err(ShellError {
                shell: other.into(),
                reason: "use sh, bash, python, pwsh, or a command template containing `{0}` such as `perl {0}`".into(),
            })
        }
    };
    Ok(cmd)
}

impl ShellCommand {
    /// The argv with `{0}` replaced by `script`.
    pub fn argv(&self, script: &str) -> Vec<String> {
        self.template
            .iter()
            .map(|a| a.replace("{0}", script))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_shells() {
        assert_eq!(
            resolve(Some("sh")).unwrap().argv("/t/s.sh"),
            vec!["sh", "-e", "/t/s.sh"]
        );
        assert_eq!(resolve(Some("bash")).unwrap().argv("/x")[4], "pipefail");
        assert_eq!(resolve(Some("python")).unwrap().extension, ".py");
        assert_eq!(
            resolve(Some("perl {0}")).unwrap().argv("/x"),
            vec!["perl", "/x"]
        );
        assert_eq!(
            resolve(None).unwrap().argv("/x").last().map(String::as_str),
            Some("/x")
        );
    }

    #[test]
    fn rejects_unknown() {
        assert!(resolve(Some("fish")).is_err());
        assert!(resolve(Some("{0}")).is_err());
        assert!(resolve(Some("cmd")).is_err());
    }
}
