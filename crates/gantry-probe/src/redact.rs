//! Redaction of what a report may carry off the machine: home paths, socket paths and
//! anything that looks like a credential.

/// `text` with home directories shortened to `~`, socket paths replaced by `<socket>`,
/// and tokens, passwords and long secret-looking strings replaced by `<redacted>`.
pub fn redact(text: &str) -> String {
    let mut out = Vec::new();
    let mut after_bearer = false;
    for word in split_keep(text) {
        if word.trim().is_empty() {
            out.push(word.to_string());
            continue;
        }
        let w = if after_bearer {
            "<redacted>".to_string()
        } else {
            redact_word(word)
        };
        after_bearer = word.eq_ignore_ascii_case("bearer") || word.eq_ignore_ascii_case("basic");
        out.push(w);
    }
    out.concat()
}

/// Splits into words and the whitespace between them, keeping both.
fn split_keep(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut in_space = None;
    for (i, c) in text.char_indices() {
        let space = c.is_whitespace();
        if in_space.is_some_and(|s| s != space) {
            parts.push(&text[start..i]);
            start = i;
        }
        in_space = Some(space);
    }
    if start < text.len() {
        parts.push(&text[start..]);
    }
    parts
}

const SECRET_KEYS: [&str; 6] = ["password", "passwd", "token", "secret", "auth", "apikey"];

fn redact_word(word: &str) -> String {
    // key=value or key:value with a secret-sounding key.
    for sep in ['=', ':'] {
        if let Some((k, v)) = word.split_once(sep) {
            let key = k.trim_start_matches(['-', '"', '\'']).to_ascii_lowercase();
            if !v.is_empty() && SECRET_KEYS.iter().any(|s| key.ends_with(s)) {
                return format!("{k}{sep}<redacted>");
            }
        }
    }
    let trimmed = word.trim_matches(|c: char| "\"'(),;[]{}".contains(c));
    if looks_secret(trimmed) {
        return word.replace(trimmed, "<redacted>");
    }
    let mut w = word.to_string();
    if let Some(i) = w.find(".sock") {
        // The whole path ending in .sock, with any unix:// prefix.
        let start = w[..i]
            .rfind(['"', '\'', '(', '='])
            .map(|p| p + 1)
            .unwrap_or(0);
        w.replace_range(start..i + ".sock".len(), "<socket>");
    }
    for home in ["/root", "/home/"] {
        while let Some(i) = w.find(home) {
            let rest = &w[i + home.len()..];
            let end = if home == "/root" {
                if !(rest.is_empty() || rest.starts_with('/')) {
                    break;
                }
                i + home.len()
            } else {
                i + home.len() + rest.find('/').unwrap_or(rest.len())
            };
            w.replace_range(i..end, "~");
        }
    }
    w
}

/// Long runs of token characters with both letters and digits (hex digests, base64,
/// JWTs) are treated as secrets; image digests are kept by name (`sha256:` prefix).
fn looks_secret(s: &str) -> bool {
    if s.len() < 32 || s.starts_with("sha256:") || s.contains('/') {
        return false;
    }
    let token = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.+=".contains(c));
    let letters = s.chars().any(|c| c.is_ascii_alphabetic());
    let digits = s.chars().any(|c| c.is_ascii_digit());
    token && letters && digits
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn homes_sockets_and_tokens_are_redacted() {
        assert_eq!(
            redact("config at /root/.docker/config.json"),
            "config at ~/.docker/config.json"
        );
        assert_eq!(redact("/home/alice/x and /root"), "~/x and ~");
        assert_eq!(redact("/rootfs stays"), "/rootfs stays");
        assert_eq!(
            redact("cannot connect to unix:///run/user/1000/podman/podman.sock: refused"),
            "cannot connect to <socket>: refused"
        );
        assert_eq!(
            redact("Authorization: Bearer abc.def"),
            "Authorization: Bearer <redacted>"
        );
        assert_eq!(
            redact("password=hunter2 user=bob"),
            "password=<redacted> user=bob"
        );
        assert_eq!(redact("--token=xyz"), "--token=<redacted>");
        assert_eq!(
            redact("key 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 end"),
            "key <redacted> end"
        );
        assert_eq!(
            redact("image sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b"),
            "image sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b"
        );
        assert_eq!(redact("  spaced\ttext \n"), "  spaced\ttext \n");
        assert_eq!(redact(""), "");
    }
}
