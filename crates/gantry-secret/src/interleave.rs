//! Masking what the streams of one step write, as they interleave.
//!
//! A terminal or a job log shows stdout and stderr interleaved, so a secret split between
//! them (`printf '%s' "${T:0:7}"; printf '%s\n' "${T:7}" >&2`) appears whole there; a
//! reader of one stream alone (a `--json` consumer) sees each stream on its own. Both
//! views must hide it. This masker keeps the bytes not yet safe to show in arrival order,
//! each tagged with its stream, and masks every secret found in either view:
//!
//! - in the interleaved sequence (a secret spanning streams becomes one mask on the
//!   mask on each stream that had bytes in it);
//! - in each stream's own bytes (a secret a stream wrote in two pieces, with the other
//!   stream's output between them: its bytes are masked, the other stream's kept).
//!
//! It holds back from the first byte that may still become part of a secret in either
//! view, so what it releases keeps the order the bytes came in. A stream's own possible
//! prefix stops being held once [`STREAM_HOLD_LIMIT`] bytes of other output came after
//! it, so one stream's stray prefix cannot stall the other forever.

use crate::mask::{Compiled, Masker, MASK};

/// How many bytes may follow a stream's possible secret prefix before it is released.
pub const STREAM_HOLD_LIMIT: usize = 64 * 1024;

/// Masks the interleaving of tagged streams (`T` names a stream, e.g. stdout/stderr).
#[derive(Debug)]
pub struct InterleavedMasker<T> {
    masker: Masker,
    pending: Vec<u8>,
    /// The stream of each byte of `pending`.
    tags: Vec<T>,
}

impl<T: Copy + PartialEq> InterleavedMasker<T> {
    /// A masker over `masker`'s values (and those added to it later).
    pub fn new(masker: &Masker) -> Self {
        InterleavedMasker {
            masker: masker.clone(),
            pending: Vec::new(),
            tags: Vec::new(),
        }
    }

    /// Takes `chunk` of stream `tag`; returns what is safe to show now, in order.
    pub fn push(&mut self, tag: T, chunk: &[u8]) -> Vec<(T, Vec<u8>)> {
        if chunk.is_empty() {
            return Vec::new();
        }
        let Some(c) = self.masker.current() else {
            let mut out = self.release_plain();
            append(&mut out, tag, chunk);
            return out;
        };
        self.pending.extend_from_slice(chunk);
        self.tags.extend(std::iter::repeat_n(tag, chunk.len()));
        let Some(automaton) = &c.automaton else {
            // Too many patterns to search: everything is masked rather than shown.
            self.pending.clear();
            self.tags.clear();
            return vec![(tag, MASK.as_bytes().to_vec())];
        };
        let n = self.pending.len();
        let streams = self.streams();
        // The first byte that may still grow into a secret, in either view.
        let mut cut = n - c.held_suffix(&self.pending);
        for positions in &streams {
            let bytes: Vec<u8> = positions.iter().map(|&i| self.pending[i]).collect();
            let held = c.held_suffix(&bytes);
            if held > 0 {
                let first = positions[positions.len() - held];
                if n - first <= STREAM_HOLD_LIMIT {
                    cut = cut.min(first);
                }
            }
        }
        // A match reaching past the cut may still grow: cut before it (repeat, as a lower
        // cut can put another match across it).
        loop {
            let before = cut;
            for m in automaton.find_iter(&self.pending) {
                if m.end() > cut {
                    cut = cut.min(m.start());
                    break;
                }
            }
            for positions in &streams {
                let bytes: Vec<u8> = positions.iter().map(|&i| self.pending[i]).collect();
                for m in automaton.find_iter(&bytes) {
                    if positions[m.end() - 1] >= cut {
                        cut = cut.min(positions[m.start()]);
                        break;
                    }
                }
            }
            if cut == before {
                break;
            }
        }
        self.release(cut, &c)
    }

    /// Everything held back, masked.
    pub fn finish(mut self) -> Vec<(T, Vec<u8>)> {
        match self.masker.current() {
            Some(c) if c.automaton.is_some() => {
                let n = self.pending.len();
                self.release(n, &c)
            }
            Some(_) if !self.pending.is_empty() => {
                vec![(self.tags[0], MASK.as_bytes().to_vec())]
            }
            _ => self.release_plain(),
        }
    }

    /// The positions in `pending` of each stream's bytes, stream by stream; none when
    /// one stream wrote everything pending (its view is then the interleaved one).
    fn streams(&self) -> Vec<Vec<usize>> {
        if self.tags.windows(2).all(|w| w[0] == w[1]) {
            return Vec::new();
        }
        let mut seen: Vec<(T, Vec<usize>)> = Vec::new();
        for (i, t) in self.tags.iter().enumerate() {
            match seen.iter_mut().find(|(s, _)| s == t) {
                Some((_, v)) => v.push(i),
                None => seen.push((*t, vec![i])),
            }
        }
        seen.into_iter().map(|(_, v)| v).collect()
    }

    /// Emits everything pending unmasked (no secrets are known).
    fn release_plain(&mut self) -> Vec<(T, Vec<u8>)> {
        let mut out = Vec::new();
        for (b, t) in self.pending.iter().zip(&self.tags) {
            append(&mut out, *t, std::slice::from_ref(b));
        }
        self.pending.clear();
        self.tags.clear();
        out
    }

    /// Emits `pending[..cut]` with every secret of either view masked; keeps the rest.
    fn release(&mut self, cut: usize, c: &Compiled) -> Vec<(T, Vec<u8>)> {
        let mut masked = vec![false; cut];
        if let Some(automaton) = &c.automaton {
            for m in automaton.find_iter(&self.pending[..cut]) {
                masked[m.start()..m.end()].fill(true);
            }
            for positions in self.streams() {
                let positions: Vec<usize> = positions.into_iter().filter(|&i| i < cut).collect();
                let bytes: Vec<u8> = positions.iter().map(|&i| self.pending[i]).collect();
                for m in automaton.find_iter(&bytes) {
                    for &i in &positions[m.start()..m.end()] {
                        masked[i] = true;
                    }
                }
            }
        }
        let mut out = Vec::new();
        let mut i = 0;
        while i < cut {
            if masked[i] {
                // One mask per run of masked bytes for each stream with bytes in it, where
                // that stream's first hidden byte was: every stream's own view shows
                // where something was hidden, so its bytes around it never join up.
                let mut seen: Vec<T> = Vec::new();
                while i < cut && masked[i] {
                    if !seen.contains(&self.tags[i]) {
                        seen.push(self.tags[i]);
                        append(&mut out, self.tags[i], MASK.as_bytes());
                    }
                    i += 1;
                }
            } else {
                let start = i;
                let tag = self.tags[i];
                while i < cut && !masked[i] && self.tags[i] == tag {
                    i += 1;
                }
                append(&mut out, tag, &self.pending[start..i]);
            }
        }
        self.pending.drain(..cut);
        self.tags.drain(..cut);
        out
    }
}

/// Appends bytes of stream `tag`, merging with the last piece when it is the same stream.
fn append<T: Copy + PartialEq>(out: &mut Vec<(T, Vec<u8>)>, tag: T, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    match out.last_mut() {
        Some((t, b)) if *t == tag => b.extend_from_slice(bytes),
        _ => out.push((tag, bytes.to_vec())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(m: &Masker, chunks: &[(u8, &str)]) -> Vec<(u8, String)> {
        let mut im = InterleavedMasker::new(m);
        let mut out = Vec::new();
        for (t, c) in chunks {
            out.extend(im.push(*t, c.as_bytes()));
        }
        out.extend(im.finish());
        let mut merged: Vec<(u8, String)> = Vec::new();
        for (t, b) in out {
            let s = String::from_utf8(b).unwrap();
            match merged.last_mut() {
                Some((lt, ls)) if *lt == t => ls.push_str(&s),
                _ => merged.push((t, s)),
            }
        }
        merged
    }

    #[test]
    fn a_secret_split_across_streams_is_masked_on_both() {
        let m = Masker::new(["s3cr3t-token".to_string()]);
        assert_eq!(
            run(&m, &[(1, "x s3cr3t"), (2, "-token\n")]),
            vec![(1, "x ***".to_string()), (2, "***\n".to_string())]
        );
    }

    #[test]
    fn a_prefix_held_on_one_stream_keeps_the_order_and_catches_the_rest_on_the_other() {
        let m = Masker::new(["super-s3cret".to_string()]);
        // stdout's `super-s` could be the start of the secret: held, and stderr's bytes
        // after it wait too, so the order stays and the secret is caught whole.
        assert_eq!(
            run(
                &m,
                &[
                    (1, "super-s"),
                    (2, "3cret\n"),
                    (2, "super-s3c"),
                    (1, "ret\n")
                ]
            ),
            vec![
                (1, "***".to_string()),
                (2, "***\n***".to_string()),
                (1, "***\n".to_string())
            ]
        );
    }

    #[test]
    fn a_secret_one_stream_writes_in_two_pieces_is_masked_for_that_stream() {
        let m = Masker::new(["s3cr3t-token".to_string()]);
        let out = run(&m, &[(1, "s3cr3t"), (2, "noise\n"), (1, "-token\n")]);
        let stdout: String = out
            .iter()
            .filter(|(t, _)| *t == 1)
            .map(|(_, s)| s.as_str())
            .collect();
        assert!(
            !stdout.contains("s3cr3t") && !stdout.contains("token"),
            "{out:?}"
        );
        let stderr: String = out
            .iter()
            .filter(|(t, _)| *t == 2)
            .map(|(_, s)| s.as_str())
            .collect();
        assert_eq!(stderr, "noise\n");
    }

    #[test]
    fn a_stray_prefix_does_not_hold_the_other_stream_forever() {
        let m = Masker::new(["super-s3cret".to_string()]);
        let mut im = InterleavedMasker::new(&m);
        assert!(im.push(1u8, b"sup").is_empty());
        let flood = vec![b'x'; STREAM_HOLD_LIMIT + 10];
        let out = im.push(2u8, &flood);
        assert_eq!(
            out.iter().map(|(_, b)| b.len()).sum::<usize>(),
            flood.len() + 3
        );
    }

    #[test]
    fn streams_keep_their_bytes_and_order() {
        let m = Masker::new(["secret".to_string()]);
        assert_eq!(
            run(&m, &[(1, "out "), (2, "err se"), (1, "x\n")]),
            vec![
                (1, "out ".to_string()),
                (2, "err se".to_string()),
                (1, "x\n".to_string())
            ]
        );
        let none = Masker::new(Vec::new());
        assert_eq!(
            run(&none, &[(1, "a"), (2, "b")]),
            vec![(1, "a".into()), (2, "b".into())]
        );
    }

    proptest! {
        #[test]
        fn neither_the_interleaving_nor_a_stream_alone_shows_a_secret(
            secrets in proptest::collection::vec("[ab]{1,6}", 1..4),
            pieces in proptest::collection::vec((1u8..3, "[abc]{0,12}"), 0..10),
        ) {
            let m = Masker::new(secrets.clone());
            let mut im = InterleavedMasker::new(&m);
            let mut out = Vec::new();
            let mut whole = Vec::new();
            for (t, p) in &pieces {
                whole.extend_from_slice(p.as_bytes());
                out.extend(im.push(*t, p.as_bytes()));
            }
            out.extend(im.finish());
            for stream in [1u8, 2] {
                let alone: Vec<u8> = out.iter().filter(|(t, _)| *t == stream).flat_map(|(_, b)| b.clone()).collect();
                let text = String::from_utf8_lossy(&alone).replace(MASK, "|");
                for s in &secrets {
                    prop_assert!(!text.contains(s.as_str()), "stream {}: {} in {}", stream, s, text);
                }
            }
            let shown: Vec<u8> = out.into_iter().flat_map(|(_, b)| b).collect();
            let text = String::from_utf8_lossy(&shown).replace(MASK, "|");
            for s in &secrets {
                prop_assert!(!text.contains(s.as_str()), "{} in {}", s, text);
            }
        }
    }
}
