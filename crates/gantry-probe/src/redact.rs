//! Redaction of what a report may carry off the machine (bug reports, CI artifacts): home
//! paths, socket paths and anything that looks like a credential.

/// Keys whose values are credentials: `password=x`, `--token=x`, `"auth":"x"`.
const SECRET_KEYS: [&str; 7] = [
    "password", "passwd", "token", "secret", "auth", "apikey", "api_key",
];

/// Authorization schemes after which the next word is a credential
/// (`Authorization: Bearer x`), matched exactly so that prose ("basic checks") is kept.
const SCHEMES: [&str; 3] = ["Bearer", "bearer", "Basic"];

/// `text` with home directories shortened to `~`, socket paths replaced by `<socket>`,
/// and tokens, passwords and long secret-looking strings replaced by `<redacted>`.
/// Whitespace is kept as it was.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut after_scheme = false;
    for word in words(text) {
        if word.trim().is_empty() {
            out.push_str(word);
            continue;
        }
        if after_scheme {
            out.push_str("<redacted>");
        } else {
            out.push_str(&redact_word(word));
        }
        let bare = word.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        after_scheme = SCHEMES.contains(&bare);
    }
    out
}

/// [`redact`]ed and trimmed, then cut to at most `max` characters (marked with `…`).
pub fn excerpt(text: &str, max: usize) -> String {
    let s = redact(text.trim());
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

/// Splits into words and the whitespace runs between them, keeping both.
fn words(text: &str) -> Vec<&str> {
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

fn redact_word(word: &str) -> String {
    // key=value or key:value with a credential-sounding key.
    for sep in ['=', ':'] {
        if let Some((k, v)) = word.split_once(sep) {
            let key = k
                .trim_matches(|c: char| "-\"'{,".contains(c))
                .to_ascii_lowercase();
            let value = v.trim_matches(|c: char| "\"',;}".contains(c));
            if !value.is_empty() && SECRET_KEYS.iter().any(|s| key.ends_with(s)) {
                return format!("{k}{sep}<redacted>");
            }
        }
    }
    let bare = word.trim_matches(|c: char| "\"'(),;[]{}<>".contains(c));
    if looks_secret(bare) {
        return word.replacen(bare, "<redacted>", 1);
    }
    let mut w = word.to_string();
    // Credentials in URLs: scheme://user:pass@host.
    if let Some(scheme) = w.find("://") {
        let rest = scheme + 3;
        if let Some(at) = w[rest..].find('@').map(|a| rest + a) {
            if !w[rest..at].contains('/') {
                w.replace_range(rest..at, "<redacted>");
            }
        }
    }
    redact_socket(&mut w);
    redact_homes(&mut w);
    w
}

/// A `unix://` address or a path ending in `.sock` becomes `<socket>`.
fn redact_socket(w: &mut String) {
    let start_of = |w: &str, i: usize| {
        w[..i]
            .rfind(['"', '\'', '(', '=', '[', '<'])
            .map(|p| p + 1)
            .unwrap_or(0)
    };
    if let Some(i) = w.find("unix://") {
        let start = start_of(w, i).min(i);
        let end = w[i..]
            .find(['"', '\'', ')', ',', ';', ']'])
            .map(|e| i + e)
            .unwrap_or(w.len());
        // A trailing `:` is punctuation (`dial unix:///x.sock: refused`), not the path.
        let end = if w[..end].ends_with(':') { end - 1 } else { end };
        w.replace_range(start..end, "<socket>");
    } else if let Some(i) = w.find(".sock") {
        let start = start_of(w, i);
        w.replace_range(start..i + ".sock".len(), "<socket>");
    }
}

/// `/root` and `/home/<user>` become `~`.
fn redact_homes(w: &mut String) {
    let mut from = 0;
    while let Some(found) = w[from..].find("/root").map(|i| from + i) {
        let rest = &w[found + "/root".len()..];
        let preceded = w[..found].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '.');
        if !preceded && (rest.is_empty() || rest.starts_with(['/', ':', ',', ')', '"', '\''])) {
            w.replace_range(found..found + "/root".len(), "~");
            from = found + 1;
        } else {
            from = found + "/root".len();
        }
    }
    from = 0;
    while let Some(found) = w[from..].find("/home/").map(|i| from + i) {
        let user = found + "/home/".len();
        let end = w[user..]
            .find(['/', ':', ',', ')', '"', '\''])
            .map(|e| user + e)
            .unwrap_or(w.len());
        if end > user {
            w.replace_range(found..end, "~");
            from = found + 1;
        } else {
            from = user;
        }
    }
}

/// Long runs of token characters with both letters and digits (hex keys, base64, JWTs)
/// are treated as secrets; image digests are kept by their `sha256:` prefix.
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
    use super::{excerpt, redact};

    #[test]
    fn home_directories_become_tilde() {
        assert_eq!(
            redact("config at /root/.docker/config.json"),
            "config at ~/.docker/config.json"
        );
        assert_eq!(redact("/home/alice/x and /root"), "~/x and ~");
        assert_eq!(redact("open /home/bob: denied"), "open ~: denied");
        assert_eq!(redact("/rootfs stays, /var/rootless too"), "/rootfs stays, /var/rootless too");
        assert_eq!(redact("path=/root/.config/x"), "path=~/.config/x");
    }

    #[test]
    fn socket_paths_become_a_placeholder() {
        assert_eq!(
            redact("cannot connect to unix:///run/user/1000/podman/podman.sock: refused"),
            "cannot connect to <socket>: refused"
        );
        assert_eq!(
            redact("dial unix /var/run/docker.sock: connect: no such file"),
            "dial unix <socket>: connect: no such file"
        );
        assert_eq!(
            redact("endpoint \"unix:///tmp/x/p\" failed"),
            "endpoint \"<socket>\" failed"
        );
        assert_eq!(redact("socket=/tmp/.tmpAb/dead.sock"), "socket=<socket>");
    }

    #[test]
    fn credentials_become_redacted() {
        assert_eq!(
            redact("Authorization: Bearer abc.def"),
            "Authorization: Bearer <redacted>"
        );
        assert_eq!(redact("Basic dXNlcjpwYXNz"), "Basic <redacted>");
        assert_eq!(
            redact("password=hunter2 user=bob"),
            "password=<redacted> user=bob"
        );
        assert_eq!(redact("--token=xyz"), "--token=<redacted>");
        assert_eq!(redact("{\"auth\":\"dXNlcg==\"}"), "{\"auth\":<redacted>");
        assert_eq!(
            redact("X-Registry-Auth:eyJ1c2VybmFtZSI6"),
            "X-Registry-Auth:<redacted>"
        );
        assert_eq!(
            redact("pull https://bob:s3cret@registry.example/x failed"),
            "pull https://<redacted>@registry.example/x failed"
        );
        assert_eq!(
            redact("key 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 end"),
            "key <redacted> end"
        );
        assert_eq!(
            redact("(ghp_16C7e42F292c6912E7710c838347Ae178B4a)"),
            "(<redacted>)"
        );
    }

    #[test]
    fn ordinary_text_is_kept() {
        assert_eq!(
            redact("image sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b"),
            "image sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b"
        );
        assert_eq!(
            redact("error setting rlimit type 7: operation not permitted"),
            "error setting rlimit type 7: operation not permitted"
        );
        assert_eq!(redact("  spaced\ttext \n"), "  spaced\ttext \n");
        assert_eq!(redact("authors: many"), "authors: many");
        assert_eq!(redact("basic checks passed"), "basic checks passed");
        assert_eq!(redact(""), "");
    }

    #[test]
    fn excerpts_are_redacted_and_bounded() {
        assert_eq!(excerpt("  token=abc  ", 100), "token=<redacted>");
        assert_eq!(excerpt("ééééé", 3), "ééé…");
        assert_eq!(excerpt("short", 5), "short");
    }
}
