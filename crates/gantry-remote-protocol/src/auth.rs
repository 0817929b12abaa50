//! `auth.login` and `auth.whoami`: the adapter manages credentials; the caller only asks.
//!
//! epack's `auth.login` answers with `instructions` only (a device code to enter at a
//! URL); the sign-in completes out of band and `auth.whoami` then reports it. gantry's
//! adapters may also answer with the `identity` at once (*gantry addition*).

use serde::{Deserialize, Serialize};

use crate::serde_util::empty_as_none;

/// `auth.login` and `auth.whoami` requests (epack sends only the envelope).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct AuthRequest {
    /// The remote's name (*gantry addition*).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub remote: Option<String>,
    /// Where a browser sign-in returns to (recent epack's loopback flow).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub redirect_uri: Option<String>,
}

impl AuthRequest {
    /// A request naming `remote` (gantry's), or none (epack's).
    pub fn new(remote: Option<String>) -> Self {
        AuthRequest {
            remote,
            redirect_uri: None,
        }
    }
}

/// Who the adapter is authenticated as.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Identity {
    /// Whether there are usable credentials.
    pub authenticated: bool,
    /// The principal.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub subject: Option<String>,
    /// Who vouches for it.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub issuer: Option<String>,
    /// When the credentials expire (RFC 3339).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub expires_at: Option<String>,
}

impl Identity {
    /// Not authenticated.
    pub fn anonymous() -> Self {
        Identity::default()
    }

    /// Authenticated as `subject`, vouched for by `issuer`.
    pub fn authenticated(subject: impl Into<String>, issuer: Option<String>) -> Self {
        Identity {
            authenticated: true,
            subject: Some(subject.into()),
            issuer,
            expires_at: None,
        }
    }
}

/// How the user completes a sign-in: a device code (`user_code` at `verification_uri`),
/// or a browser link (`authorization_url`, recent epack).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct LoginInstructions {
    /// The code to enter.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub user_code: Option<String>,
    /// Where to enter it.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub verification_uri: Option<String>,
    /// How long the code or link works.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in_seconds: Option<u64>,
    /// The page to open (browser sign-in).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub authorization_url: Option<String>,
    /// The browser sign-in's state.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub state: Option<String>,
    /// The adapter's handle of the sign-in in flight.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub session: Option<String>,
}

impl LoginInstructions {
    /// A device code `user_code` to enter at `verification_uri` within `expires_in_seconds`.
    pub fn device_code(
        user_code: impl Into<String>,
        verification_uri: impl Into<String>,
        expires_in_seconds: u64,
    ) -> Self {
        LoginInstructions {
            user_code: Some(user_code.into()),
            verification_uri: Some(verification_uri.into()),
            expires_in_seconds: Some(expires_in_seconds),
            ..LoginInstructions::default()
        }
    }

    /// Whether there is anything for the user to do.
    pub fn is_empty(&self) -> bool {
        self.user_code.is_none()
            && self.verification_uri.is_none()
            && self.authorization_url.is_none()
    }
}

/// The answer to `auth.login`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct LoggedIn {
    /// What the user must do to finish (epack).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instructions: Option<LoginInstructions>,
    /// Who the adapter is now authenticated as, when the login finished at once
    /// (*gantry addition*).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<Identity>,
}

/// The answer to `auth.whoami`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct WhoAmI {
    /// Who.
    pub identity: Identity,
}

impl WhoAmI {
    /// An answer.
    pub fn new(identity: Identity) -> Self {
        WhoAmI { identity }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epacks_login_result_carries_instructions_only() {
        let r: LoggedIn = serde_json::from_str(
            r#"{"ok":true,"type":"auth.login.result","request_id":"r","instructions":
                {"user_code":"ABCD-1234","verification_uri":"https://auth.example/device","expires_in_seconds":600}}"#,
        )
        .expect("login");
        assert_eq!(r.identity, None);
        let i = r.instructions.expect("instructions");
        assert_eq!(i.user_code.as_deref(), Some("ABCD-1234"));
        assert!(!i.is_empty());
    }
}
