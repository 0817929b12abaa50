//! Registry credentials: the workflow's `credentials:` (usually from gantry secrets) win;
//! otherwise the Docker config file (`$DOCKER_CONFIG/config.json`, else
//! `~/.docker/config.json`) is read, as the docker CLI does. Credential helpers
//! (`credsStore`) are not run.

use std::path::PathBuf;

use base64::Engine as _;

/// The registry host of an image reference (`docker.io` when it names none).
pub(crate) fn registry_of(image: &str) -> String {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first.to_string()
        }
        _ => "docker.io".to_string(),
    }
}

fn config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json"))
}

/// Username and password for `registry` from the Docker config file, if it has them.
pub(crate) fn from_docker_config(registry: &str) -> Option<(String, String)> {
    let text = std::fs::read_to_string(config_path()?).ok()?;
    lookup(&text, registry)
}

/// Finds `registry` in a config file's `auths` (keys may carry a scheme or path, and
/// Docker Hub is stored under `https://index.docker.io/v1/`).
fn lookup(config: &str, registry: &str) -> Option<(String, String)> {
    let value: serde_json::Value = serde_json::from_str(config).ok()?;
    let auths = value.get("auths")?.as_object()?;
    let host = |key: &str| {
        let k = key
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        k.split('/').next().unwrap_or(k).to_string()
    };
    let wanted = if registry == "docker.io" {
        "index.docker.io"
    } else {
        registry
    };
    let entry = auths
        .iter()
        .find(|(k, _)| host(k) == wanted || host(k) == registry)?
        .1;
    if let (Some(u), Some(p)) = (
        entry.get("username").and_then(|v| v.as_str()),
        entry.get("password").and_then(|v| v.as_str()),
    ) {
        return Some((u.to_string(), p.to_string()));
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(entry.get("auth")?.as_str()?)
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_and_config_entries() {
        assert_eq!(registry_of("127.0.0.1:5000/a/b:1"), "127.0.0.1:5000");
        assert_eq!(registry_of("ghcr.io/o/i"), "ghcr.io");
        assert_eq!(registry_of("busybox"), "docker.io");
        assert_eq!(registry_of("gantry-test/busybox:1"), "docker.io");
        let auth = base64::engine::general_purpose::STANDARD.encode("gantry:s3cret");
        let config = format!(
            r#"{{"auths":{{"127.0.0.1:5000":{{"auth":"{auth}"}},"https://index.docker.io/v1/":{{"username":"hub","password":"pw"}}}}}}"#
        );
        assert_eq!(
            lookup(&config, "127.0.0.1:5000"),
            Some(("gantry".into(), "s3cret".into()))
        );
        assert_eq!(
            lookup(&config, "docker.io"),
            Some(("hub".into(), "pw".into()))
        );
        assert_eq!(lookup(&config, "ghcr.io"), None);
        assert_eq!(lookup("not json", "ghcr.io"), None);
        assert_eq!(lookup(r#"{"auths":{"x.io":{"auth":"!!!"}}}"#, "x.io"), None);
    }
}
