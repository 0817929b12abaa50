//! What `pack.digest` means: epack's pack digest.
//!
//! epack identifies a pack by the sha256 of its *canonical artifact list*, not by the
//! bytes of the pack file (the file changes when attestations are added; the list does
//! not). The list has one line `{path}\t{digest}\n` per artifact, sorted by path byte by
//! byte; the pack digest is `sha256:<hex>` of those bytes (of nothing, for an empty
//! list). The file's own sha256 travels beside it as `file_digest`.
//!
//! How a gantry pack maps onto it is gantry-artifact's business (its `pack` module: one
//! entry per `artifacts/<name>.tar` with that tar's digest); this module only builds the
//! list, so every implementation hashes the same bytes. Hashing is left to the caller:
//! this crate stays serde only.

/// The canonical artifact list of `entries` (`(path, "sha256:<hex>")` pairs): sorted by
/// path byte by byte, one `{path}\t{digest}\n` line each.
pub fn canonical_artifact_list<'a>(
    entries: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    let mut entries: Vec<(&str, &str)> = entries.into_iter().collect();
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut out = String::new();
    for (path, digest) in entries {
        out.push_str(path);
        out.push('\t');
        out.push_str(digest);
        out.push('\n');
    }
    out
}

/// The path of the one artifact a file gantry cannot read as a pack is taken to hold
/// (the file itself): such a file's pack digest is the digest of the list
/// `pack\t<file digest>\n`.
pub const SINGLE_FILE_PATH: &str = "pack";

/// Whether `digest` is `sha256:` and 64 lowercase hex digits.
pub fn is_sha256(digest: &str) -> bool {
    digest
        .strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_sorted_by_path_bytes() {
        let list = canonical_artifact_list([
            ("artifacts/b.json", "sha256:2"),
            ("artifacts/B.json", "sha256:3"),
            ("artifacts/a.json", "sha256:1"),
        ]);
        assert_eq!(
            list,
            "artifacts/B.json\tsha256:3\nartifacts/a.json\tsha256:1\nartifacts/b.json\tsha256:2\n"
        );
        assert_eq!(canonical_artifact_list([]), "");
    }

    #[test]
    fn sha256_digests_are_recognised() {
        assert!(is_sha256(&format!("sha256:{}", "a".repeat(64))));
        assert!(!is_sha256(&format!("sha256:{}", "A".repeat(64))));
        assert!(!is_sha256("sha256:abc"));
        assert!(!is_sha256(&"a".repeat(64)));
    }
}
