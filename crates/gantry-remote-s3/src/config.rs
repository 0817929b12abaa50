//! Where the bucket is and how to sign for it, read from the adapter's environment.
//!
//! gantry gives the adapter only an allowlisted environment: its own
//! `GANTRY_REMOTE_S3_*` variables and the remote's `env` table (docs/remote-protocol.md),
//! so every setting lives in a `GANTRY_REMOTE_S3_*` variable.

/// The variable naming the S3 endpoint (`http://127.0.0.1:9000`); unset means AWS itself.
pub(crate) const ENDPOINT: &str = "GANTRY_REMOTE_S3_ENDPOINT";
/// The variable naming the bucket (required).
pub(crate) const BUCKET: &str = "GANTRY_REMOTE_S3_BUCKET";
/// The variable naming the region (default `us-east-1`).
pub(crate) const REGION: &str = "GANTRY_REMOTE_S3_REGION";
/// The variable naming the key prefix inside the bucket (default: none).
pub(crate) const PREFIX: &str = "GANTRY_REMOTE_S3_PREFIX";
/// The variable holding the access key id (required).
pub(crate) const ACCESS_KEY_ID: &str = "GANTRY_REMOTE_S3_ACCESS_KEY_ID";
/// The variable holding the secret access key (required; never printed).
pub(crate) const SECRET_ACCESS_KEY: &str = "GANTRY_REMOTE_S3_SECRET_ACCESS_KEY";

/// The region used when [`REGION`] is unset.
pub(crate) const DEFAULT_REGION: &str = "us-east-1";

/// Why the environment does not describe a usable bucket.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    /// A required variable is unset or empty.
    #[error("{0} is not set (configure it in [remotes.NAME].env)")]
    Missing(&'static str),
    /// A variable is set but unusable.
    #[error("{var} `{value}`: {reason}")]
    Invalid {
        var: &'static str,
        value: String,
        reason: &'static str,
    },
}

impl ConfigError {
    /// Missing credentials are an authentication problem, anything else a bad setup.
    pub(crate) fn is_credentials(&self) -> bool {
        matches!(
            self,
            ConfigError::Missing(ACCESS_KEY_ID | SECRET_ACCESS_KEY)
        )
    }
}

/// The bucket settings. `Debug` leaves the secret out.
#[derive(Clone)]
pub(crate) struct S3Config {
    pub endpoint: Option<String>,
    pub bucket: String,
    pub region: String,
    /// Key prefix without leading or trailing `/`; may be empty.
    pub prefix: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("prefix", &self.prefix)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl S3Config {
    /// Reads the settings from the process environment.
    pub(crate) fn from_env() -> Result<S3Config, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the settings through `get` (the environment, or a map in tests).
    pub(crate) fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<S3Config, ConfigError> {
        let value = |var: &'static str| get(var).filter(|v| !v.trim().is_empty());
        let required = |var: &'static str| value(var).ok_or(ConfigError::Missing(var));
        let endpoint = value(ENDPOINT);
        if let Some(ep) = &endpoint {
            if !(ep.starts_with("http://") || ep.starts_with("https://")) {
                return Err(ConfigError::Invalid {
                    var: ENDPOINT,
                    value: ep.clone(),
                    reason: "must start with http:// or https://",
                });
            }
        }
        let prefix = value(PREFIX).unwrap_or_default();
        let prefix = prefix.trim_matches('/').to_string();
        if prefix
            .split('/')
            .any(|s| (s.is_empty() && !prefix.is_empty()) || s == "." || s == "..")
        {
            return Err(ConfigError::Invalid {
                var: PREFIX,
                value: prefix,
                reason: "must be `/`-separated segments without empty, `.` or `..` parts",
            });
        }
        Ok(S3Config {
            endpoint,
            bucket: required(BUCKET)?,
            region: value(REGION).unwrap_or_else(|| DEFAULT_REGION.to_string()),
            prefix,
            access_key_id: required(ACCESS_KEY_ID)?,
            secret_access_key: required(SECRET_ACCESS_KEY)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn defaults_and_required_variables() {
        let cfg = S3Config::from_lookup(lookup(&[
            (BUCKET, "b"),
            (ACCESS_KEY_ID, "id"),
            (SECRET_ACCESS_KEY, "s3cr3t"),
            (PREFIX, "/a/b/"),
        ]))
        .expect("config");
        assert_eq!(cfg.region, DEFAULT_REGION);
        assert_eq!(cfg.prefix, "a/b");
        assert!(!format!("{cfg:?}").contains("s3cr3t"));
        let err = S3Config::from_lookup(lookup(&[(BUCKET, "b"), (ACCESS_KEY_ID, "id")]))
            .expect_err("no secret");
        assert!(err.is_credentials(), "{err}");
        let err = S3Config::from_lookup(lookup(&[(ACCESS_KEY_ID, "id")])).expect_err("no bucket");
        assert!(!err.is_credentials(), "{err}");
        let err = S3Config::from_lookup(lookup(&[
            (BUCKET, "b"),
            (ACCESS_KEY_ID, "id"),
            (SECRET_ACCESS_KEY, "s"),
            (PREFIX, "a/../b"),
        ]))
        .expect_err("bad prefix");
        assert!(
            matches!(err, ConfigError::Invalid { var: PREFIX, .. }),
            "{err}"
        );
    }
}
