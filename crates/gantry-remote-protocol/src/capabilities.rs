//! What `ADAPTER --capabilities` prints.
//!
//! epack's spelling is `{"name", "kind": "remote_adapter", "deploy_protocol_version": 1,
//! "features", "auth", "limits"}`; gantry's first protocol spelled the version
//! `protocol_version`. Both are read and [`Capabilities::new`] writes both, so an adapter
//! built on this crate is accepted by epack and by every gantry.

use serde::{Deserialize, Serialize};

use crate::envelope::PROTOCOL_VERSION;

/// The `kind` every remote adapter declares.
pub const KIND: &str = "remote_adapter";

/// The capabilities object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Capabilities {
    /// The adapter's name (`fs`, `s3`, `locktivity`).
    #[serde(default, deserialize_with = "crate::serde_util::null_as_empty")]
    pub name: String,
    /// `remote_adapter` (epack).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The protocol version the adapter speaks, epack's spelling. epack refuses an adapter
    /// without it (it reads 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_protocol_version: Option<u32>,
    /// The same, gantry's first spelling (*gantry addition*, kept for older gantry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<u32>,
    /// The adapter's own release (epack's SDK prints it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// One line about the adapter (epack's SDK prints it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// What the adapter implements beyond capabilities.
    #[serde(default)]
    pub features: Features,
    /// How the adapter authenticates.
    #[serde(default)]
    pub auth: AuthCapabilities,
    /// Limits the caller must respect.
    #[serde(default)]
    pub limits: Limits,
}

impl Capabilities {
    /// Capabilities of an adapter named `name` with no features, declaring protocol v1 in
    /// both spellings and `kind: remote_adapter`.
    pub fn new(name: impl Into<String>) -> Self {
        Capabilities {
            name: name.into(),
            kind: Some(KIND.into()),
            deploy_protocol_version: Some(PROTOCOL_VERSION),
            protocol_version: Some(PROTOCOL_VERSION),
            version: None,
            description: None,
            features: Features::default(),
            auth: AuthCapabilities::default(),
            limits: Limits::default(),
        }
    }

    /// The protocol version declared: epack's `deploy_protocol_version`, else gantry's
    /// `protocol_version`; `None` when neither is present.
    pub fn declared_version(&self) -> Option<u32> {
        self.deploy_protocol_version.or(self.protocol_version)
    }
}

/// Optional features; a missing key is `false`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Features {
    /// `push.prepare` + `push.finalize` (required for push).
    pub prepare_finalize: bool,
    /// The adapter uploads by itself (epack: mutually exclusive with prepare_finalize;
    /// gantry, like epack's CLI, pushes only through prepare/finalize).
    pub direct_upload: bool,
    /// `pull.prepare` + `pull.finalize`.
    pub pull: bool,
    /// `runs.sync`.
    pub runs_sync: bool,
    /// `auth.login`.
    pub auth_login: bool,
    /// `auth.whoami`.
    pub whoami: bool,
}

/// Authentication modes (`none`, `api_key`, `device_code`, `oidc_token`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct AuthCapabilities {
    /// The modes the adapter supports.
    pub modes: Vec<String>,
    /// Where it keeps tokens (`os_keychain`, `encrypted_file`, `env_var`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_storage: Option<String>,
}

/// Limits the adapter announces; absent or 0 means unlimited (epack's reading).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Limits {
    /// Largest pack the remote accepts, in bytes (epack's SDK spells it `max_pack_size`).
    #[serde(alias = "max_pack_size", skip_serializing_if = "Option::is_none")]
    pub max_pack_bytes: Option<u64>,
    /// Most runs one `runs.sync` may carry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_runs_per_sync: Option<u64>,
}

impl Limits {
    /// `max_pack_bytes`, with 0 read as unlimited.
    pub fn pack_bytes(&self) -> Option<u64> {
        self.max_pack_bytes.filter(|n| *n > 0)
    }

    /// `max_runs_per_sync`, with 0 read as unlimited.
    pub fn runs_per_sync(&self) -> Option<u64> {
        self.max_runs_per_sync.filter(|n| *n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epacks_spelling_is_read() {
        let caps: Capabilities = serde_json::from_str(
            r#"{"name":"locktivity","kind":"remote_adapter","deploy_protocol_version":1,
                "features":{"prepare_finalize":true,"direct_upload":false,"pull":true,"runs_sync":true,"auth_login":true,"whoami":true,"lock_report":true},
                "auth":{"modes":["device_code","oidc_token","api_key"],"token_storage":"os_keychain"},
                "limits":{"max_pack_bytes":104857600,"max_runs_per_sync":100},
                "extensions":{"x":1}}"#,
        )
        .expect("epack capabilities");
        assert_eq!(caps.declared_version(), Some(1));
        assert_eq!(caps.kind.as_deref(), Some(KIND));
        assert!(caps.features.pull && caps.features.auth_login);
        assert_eq!(caps.limits.runs_per_sync(), Some(100));
    }

    #[test]
    fn gantrys_spelling_and_the_sdks_limit_name_are_read() {
        let caps: Capabilities = serde_json::from_str(
            r#"{"name":"x","protocol_version":1,"limits":{"max_pack_size":7}}"#,
        )
        .expect("gantry capabilities");
        assert_eq!(caps.declared_version(), Some(1));
        assert_eq!(caps.limits.pack_bytes(), Some(7));
        assert!(!caps.features.pull);
        let none: Capabilities = serde_json::from_str(r#"{"name":"x"}"#).expect("bare");
        assert_eq!(none.declared_version(), None);
        let zero: Capabilities =
            serde_json::from_str(r#"{"name":"x","limits":{"max_pack_bytes":0}}"#).expect("zero");
        assert_eq!(zero.limits.pack_bytes(), None, "0 is unlimited");
    }

    #[test]
    fn new_writes_both_spellings() {
        let v = serde_json::to_value(Capabilities::new("fs")).expect("json");
        assert_eq!(v["kind"], "remote_adapter");
        assert_eq!(v["deploy_protocol_version"], 1);
        assert_eq!(v["protocol_version"], 1);
    }
}
