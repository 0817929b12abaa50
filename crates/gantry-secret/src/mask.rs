//! Masking secret values in output, including values split across chunks.

use std::sync::{Arc, Mutex, PoisonError, RwLock};

use aho_corasick::{AhoCorasick, MatchKind};

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// The secrets to hide in one run. Clones share their values: a value added later (a
/// step's `::add-mask::`) is hidden by every clone and stream from then on.
#[derive(Debug, Clone, Default)]
pub struct Masker {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    /// The values as given, for recompiling when one is added.
    values: Mutex<Vec<String>>,
    /// What streams use; swapped whole when a value is added.
    compiled: RwLock<Option<Arc<Compiled>>>,
}

#[derive(Debug)]
pub(crate) struct Compiled {
    /// `None` when the patterns exceed aho-corasick's limits: then everything is masked
    /// rather than anything leaking.
    pub(crate) automaton: Option<AhoCorasick>,
    patterns: Vec<Vec<u8>>,
    longest: usize,
}

impl Masker {
    /// A masker for `values`. Empty values are ignored; each line of a multi-line value
    /// is also masked on its own (a step may print it line by line).
    pub fn new(values: impl IntoIterator<Item = String>) -> Masker {
        let values: Vec<String> = values.into_iter().filter(|v| !v.is_empty()).collect();
        let compiled = Compiled::build(&values);
        Masker {
            shared: Arc::new(Shared {
                values: Mutex::new(values),
                compiled: RwLock::new(compiled),
            }),
        }
    }

    /// Hides `value` too, from now on, in every clone of this masker and every stream made
    /// from it. Empty and already known values are ignored.
    pub fn add(&self, value: &str) {
        if value.is_empty() {
            return;
        }
        let mut values = self
            .shared
            .values
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if values.iter().any(|v| v == value) {
            return;
        }
        values.push(value.to_string());
        let compiled = Compiled::build(&values);
        *self
            .shared
            .compiled
            .write()
            .unwrap_or_else(PoisonError::into_inner) = compiled;
    }

    pub(crate) fn current(&self) -> Option<Arc<Compiled>> {
        self.shared
            .compiled
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A streaming masker for one output stream.
    pub fn stream(&self) -> StreamMasker {
        StreamMasker {
            masker: self.clone(),
            pending: Vec::new(),
        }
    }

    /// Masks a whole string at once.
    pub fn mask_str(&self, s: &str) -> String {
        match self.current() {
            None => s.to_string(),
            Some(c) => String::from_utf8_lossy(&c.replace(s.as_bytes())).into_owned(),
        }
    }

    /// Whether `bytes` begins with the rest of a secret (a proper suffix of one): another
    /// stream may be about to deliver its start. See [`crate::InterleavedMasker`].
    pub fn starts_with_secret_tail(&self, bytes: &[u8]) -> bool {
        let Some(c) = self.current() else {
            return false;
        };
        c.patterns
            .iter()
            .any(|p| (1..p.len()).any(|k| bytes.starts_with(&p[k..])))
    }

    /// Masks whole bytes at once.
    pub fn mask_bytes(&self, b: &[u8]) -> Vec<u8> {
        match self.current() {
            None => b.to_vec(),
            Some(c) => c.replace(b),
        }
    }
}

impl Compiled {
    fn build(values: &[String]) -> Option<Arc<Compiled>> {
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        for v in values {
            if v.is_empty() {
                continue;
            }
            if v.contains('\n') {
                for line in v.lines().map(|l| l.trim_end_matches('\r')) {
                    if !line.trim().is_empty() {
                        patterns.push(line.as_bytes().to_vec());
                    }
                }
            }
            patterns.push(v.as_bytes().to_vec());
        }
        patterns.sort();
        patterns.dedup();
        if patterns.is_empty() {
            return None;
        }
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns)
            .ok();
        let longest = patterns.iter().map(Vec::len).max().unwrap_or(0);
        Some(Arc::new(Compiled {
            automaton,
            patterns,
            longest,
        }))
    }

    pub(crate) fn replace(&self, hay: &[u8]) -> Vec<u8> {
        let Some(automaton) = &self.automaton else {
            return if hay.is_empty() {
                Vec::new()
            } else {
                MASK.as_bytes().to_vec()
            };
        };
        let mut out = Vec::with_capacity(hay.len());
        automaton.replace_all_with_bytes(hay, &mut out, |_, _, dst| {
            dst.extend_from_slice(MASK.as_bytes());
            true
        });
        out
    }

    /// Length of the longest suffix of `hay` that is a proper prefix of some pattern.
    pub(crate) fn held_suffix(&self, hay: &[u8]) -> usize {
        let max = self.longest.saturating_sub(1).min(hay.len());
        for len in (1..=max).rev() {
            let suffix = &hay[hay.len() - len..];
            if self
                .patterns
                .iter()
                .any(|p| p.len() > len && p.starts_with(suffix))
            {
                return len;
            }
        }
        0
    }
}

/// Masks one stream chunk by chunk. Holds back the bytes at the end of a chunk that could
/// be the start of a secret, so a secret split across chunks is still caught.
#[derive(Debug)]
pub struct StreamMasker {
    masker: Masker,
    pending: Vec<u8>,
}

impl StreamMasker {
    /// Masks `chunk`; returns what is safe to emit now.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        let Some(c) = self.masker.current() else {
            let mut out = std::mem::take(&mut self.pending);
            out.extend_from_slice(chunk);
            return out;
        };
        let Some(automaton) = &c.automaton else {
            return c.replace(chunk);
        };
        let mut data = std::mem::take(&mut self.pending);
        data.extend_from_slice(chunk);
        // Matches that end before the held-back tail are final; a match that reaches into
        // the tail might grow with the next chunk, so cut before the earliest such match.
        let hold = c.held_suffix(&data);
        let mut cut = data.len() - hold;
        for m in automaton.find_iter(&data) {
            if m.end() > cut {
                cut = cut.min(m.start());
                break;
            }
        }
        let out = c.replace(&data[..cut]);
        self.pending = data[cut..].to_vec();
        out
    }

    /// Emits what was held back, masked.
    pub fn finish(self) -> Vec<u8> {
        match self.masker.current() {
            None => self.pending,
            Some(c) => c.replace(&self.pending),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn stream_all(m: &Masker, chunks: &[&[u8]]) -> Vec<u8> {
        let mut s = m.stream();
        let mut out = Vec::new();
        for c in chunks {
            out.extend(s.push(c));
        }
        out.extend(s.finish());
        out
    }

    #[test]
    fn masks_split_secrets() {
        let m = Masker::new(["super-secret".to_string()]);
        assert_eq!(
            stream_all(&m, &[b"a sup", b"er-sec", b"ret b\n"]),
            b"a *** b\n"
        );
        assert_eq!(stream_all(&m, &[b"xsup", b"er-secret"]), b"x***");
        assert_eq!(stream_all(&m, &[b"sup", b"per-secret"]), b"supper-secret");
        assert_eq!(m.mask_str("x super-secret y super-secret"), "x *** y ***");
    }

    #[test]
    fn multi_line_secrets_mask_each_line() {
        let m = Masker::new(["line-one\nline-two".to_string()]);
        assert_eq!(m.mask_str("line-two"), "***");
        assert_eq!(m.mask_str("line-one\nline-two"), "***");
    }

    #[test]
    fn tails_of_secrets_are_recognised() {
        let m = Masker::new(["abcdef".to_string()]);
        assert!(m.starts_with_secret_tail(b"def\n"));
        assert!(m.starts_with_secret_tail(b"f"));
        assert!(
            !m.starts_with_secret_tail(b"abcdef"),
            "a whole secret is no tail"
        );
        assert!(!m.starts_with_secret_tail(b"de"));
        assert!(!Masker::new(Vec::new()).starts_with_secret_tail(b"f"));
    }

    #[test]
    fn no_secrets_is_a_passthrough() {
        let m = Masker::new([String::new()]);
        let mut s = m.stream();
        assert_eq!(s.push(b"abc"), b"abc");
        assert!(s.finish().is_empty());
    }

    #[test]
    fn added_values_reach_every_clone_and_open_stream() {
        let m = Masker::new(Vec::new());
        let clone = m.clone();
        let mut s = m.stream();
        assert_eq!(s.push(b"token-1 "), b"token-1 ");
        clone.add("token-1");
        clone.add("");
        assert_eq!(s.push(b"tok"), b"");
        assert_eq!(s.push(b"en-1 x"), b"*** x");
        assert_eq!(m.mask_str("a token-1"), "a ***");
        m.add("second\nline");
        assert_eq!(clone.mask_str("line"), "***");
    }

    proptest! {
        #[test]
        fn streaming_equals_whole_masking(
            secrets in proptest::collection::vec("[ab]{1,6}", 1..4),
            data in "[abc]{0,80}",
            cuts in proptest::collection::vec(0usize..80, 0..8),
        ) {
            let m = Masker::new(secrets.clone());
            let bytes = data.as_bytes();
            let mut points: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            points.sort_unstable();
            let mut chunks = Vec::new();
            let mut last = 0;
            for p in points {
                chunks.push(&bytes[last..p]);
                last = p;
            }
            chunks.push(&bytes[last..]);
            let streamed = stream_all(&m, &chunks);
            prop_assert_eq!(&streamed, &m.mask_bytes(bytes));
            let text = String::from_utf8_lossy(&streamed).replace(MASK, "|");
            for s in &secrets {
                prop_assert!(!text.contains(s.as_str()), "{} in {}", s, text);
            }
        }
    }
}
