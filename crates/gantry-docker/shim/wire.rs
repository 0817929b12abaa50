//! The shim's wire format, shared by the shim program (`shim/main.rs`, std only) and the
//! backend that talks to it (`src/shim.rs`).
//!
//! Every message is a frame: kind (1 byte), request id (u32 big-endian), payload length
//! (u32 big-endian), payload. Payloads are lists of byte strings, each a u32 big-endian
//! length and its bytes, preceded by the list's u32 count. Version 1; the shim says
//! [`HELLO_V1`] first so a mismatched pair is refused, never misread.

#![allow(dead_code)]

/// Greeting the shim sends as the payload of its first frame.
pub(crate) const HELLO_V1: &[u8] = b"gantry-shim/1";

/// Largest payload accepted; bigger frames mean a broken peer, not a big file.
pub(crate) const MAX_PAYLOAD: usize = 64 << 20;

/// Frame header length: kind, id, payload length.
pub(crate) const HEADER: usize = 9;

// Requests, gantry to shim.
/// Run a process: lists `[cwd]`, argv, env (`KEY=VALUE`).
pub(crate) const RUN: u8 = 1;
/// Signal a running process group: payload one byte, the signal number.
pub(crate) const SIGNAL: u8 = 2;
/// Write files: one list of `path, mode (decimal), contents` triples.
pub(crate) const WRITE: u8 = 3;
/// Read files: one list of paths.
pub(crate) const READ: u8 = 4;

// Replies, shim to gantry.
/// The shim is up: payload [`HELLO_V1`].
pub(crate) const HELLO: u8 = 10;
/// Output on the process's stdout: raw bytes.
pub(crate) const STDOUT: u8 = 11;
/// Output on the process's stderr: raw bytes.
pub(crate) const STDERR: u8 = 12;
/// The process ended: list `[code or "", signal or ""]` in decimal.
pub(crate) const EXIT: u8 = 13;
/// A request failed before or without a process: UTF-8 message.
pub(crate) const ERROR: u8 = 14;
/// Files written: empty payload.
pub(crate) const WROTE: u8 = 15;
/// Files read: one list with, per path, `"1"` and the contents, or `"0"` and nothing.
pub(crate) const FILES: u8 = 16;

/// Why bytes are not a valid frame or payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WireError(pub String);

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Encodes one frame.
pub(crate) fn frame(kind: u8, id: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.push(kind);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Appends a list of byte strings to `out`.
pub(crate) fn put_list<T: AsRef<[u8]>>(out: &mut Vec<u8>, items: &[T]) {
    out.extend_from_slice(&(items.len() as u32).to_be_bytes());
    for item in items {
        let item = item.as_ref();
        out.extend_from_slice(&(item.len() as u32).to_be_bytes());
        out.extend_from_slice(item);
    }
}

/// Takes one frame off the front of `buf`: `Ok(None)` until a whole frame is there.
pub(crate) fn take_frame(buf: &mut Vec<u8>) -> Result<Option<(u8, u32, Vec<u8>)>, WireError> {
    if buf.len() < HEADER {
        return Ok(None);
    }
    let kind = buf[0];
    let id = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]);
    let len = u32::from_be_bytes([buf[5], buf[6], buf[7], buf[8]]) as usize;
    if len > MAX_PAYLOAD {
        return Err(WireError(format!(
            "frame of {len} bytes exceeds the {MAX_PAYLOAD}-byte limit"
        )));
    }
    if buf.len() < HEADER + len {
        return Ok(None);
    }
    let payload = buf[HEADER..HEADER + len].to_vec();
    buf.drain(..HEADER + len);
    Ok(Some((kind, id, payload)))
}

/// Reads lists one after another out of a payload.
pub(crate) struct Lists<'a> {
    rest: &'a [u8],
}

impl<'a> Lists<'a> {
    pub(crate) fn new(payload: &'a [u8]) -> Self {
        Lists { rest: payload }
    }

    fn u32(&mut self) -> Result<usize, WireError> {
        if self.rest.len() < 4 {
            return Err(WireError("payload ends inside a length".into()));
        }
        let (n, rest) = self.rest.split_at(4);
        self.rest = rest;
        Ok(u32::from_be_bytes([n[0], n[1], n[2], n[3]]) as usize)
    }

    /// The next list.
    pub(crate) fn list(&mut self) -> Result<Vec<&'a [u8]>, WireError> {
        let count = self.u32()?;
        // Every item needs at least its 4-byte length: a count beyond that is garbage.
        if count > self.rest.len() / 4 {
            return Err(WireError(format!(
                "list of {count} items in {} bytes",
                self.rest.len()
            )));
        }
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            let len = self.u32()?;
            if len > self.rest.len() {
                return Err(WireError(format!(
                    "item of {len} bytes with {} left",
                    self.rest.len()
                )));
            }
            let (item, rest) = self.rest.split_at(len);
            self.rest = rest;
            items.push(item);
        }
        Ok(items)
    }

    /// The next list as UTF-8 strings.
    pub(crate) fn strings(&mut self) -> Result<Vec<String>, WireError> {
        self.list()?
            .into_iter()
            .map(|b| {
                String::from_utf8(b.to_vec()).map_err(|_| WireError("a string is not UTF-8".into()))
            })
            .collect()
    }
}
