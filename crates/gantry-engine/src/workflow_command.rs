//! GitHub's workflow commands in step output: `::add-mask::`, `::error::`, `::warning::`,
//! `::notice::`, `::debug::`, `::group::`/`::endgroup::`, `::set-output::` and
//! `::stop-commands::`. Found line by line *before* masking, so a value registered with
//! `add-mask` never shows, not even in the line that registers it.
//!
//! Syntax as GitHub's runner reads it: optional leading blanks, `::NAME key=value,...::DATA`;
//! `%25`, `%0D`, `%0A` escape `%`, CR and LF in data, and properties also take `%3A` (`:`)
//! and `%2C` (`,`). Unknown names are plain output.

use crate::event::Level;

/// Longest command line waited for; a longer "command" is passed through as output.
const MAX_COMMAND_LINE: usize = 1 << 20;

/// One recognised command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkflowCommand {
    /// `::add-mask::VALUE`.
    AddMask(String),
    /// `::error|warning|notice file=,line=,col=,title=::MESSAGE`, already rendered as
    /// `file:line:col: title: message`.
    Annotation {
        /// How serious it is.
        level: Level,
        /// The message, with its place and title in front.
        message: String,
    },
    /// `::debug::MESSAGE` (shown only when step debugging is on).
    Debug(String),
    /// `::group::TITLE`.
    Group(String),
    /// `::endgroup::`.
    EndGroup,
    /// `::set-output name=NAME::VALUE` (deprecated by GitHub, still common).
    SetOutput {
        /// The output's name.
        name: String,
        /// Its value.
        value: String,
    },
}

/// A piece of one output stream: bytes to show, or a command found on a line of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Output to show.
    Text(Vec<u8>),
    /// A command, on a line of its own.
    Command(WorkflowCommand),
}

/// Finds workflow commands in one stream, chunk by chunk. Only a trailing partial line that
/// may still become a command is held back; other output flows through unchanged.
#[derive(Debug, Default)]
pub struct CommandScanner {
    tail: Vec<u8>,
    /// While set, commands are off until the line `::TOKEN::` (`::stop-commands::TOKEN`).
    stopped_until: Option<String>,
}

impl CommandScanner {
    /// Splits `chunk` into text and commands.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Piece> {
        if self.tail.is_empty() && memchr::memmem::find(chunk, b"::").is_none() {
            let last_line = match memchr::memrchr(b'\n', chunk) {
                Some(i) => &chunk[i + 1..],
                None => chunk,
            };
            if !may_become_command(last_line) {
                return if chunk.is_empty() {
                    Vec::new()
                } else {
                    vec![Piece::Text(chunk.to_vec())]
                };
            }
        }
        let mut data = std::mem::take(&mut self.tail);
        data.extend_from_slice(chunk);
        let mut pieces = Vec::new();
        let mut text = Vec::new();
        let mut start = 0;
        while let Some(nl) = memchr::memchr(b'\n', &data[start..]) {
            let end = start + nl + 1;
            self.line(&data[start..end], &mut text, &mut pieces);
            start = end;
        }
        let rest = &data[start..];
        if may_become_command(rest) && rest.len() < MAX_COMMAND_LINE {
            self.tail = rest.to_vec();
        } else {
            text.extend_from_slice(rest);
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        pieces
    }

    /// The end of the stream: a held partial line is read as a last line.
    pub fn finish(&mut self) -> Vec<Piece> {
        let rest = std::mem::take(&mut self.tail);
        let mut pieces = Vec::new();
        let mut text = Vec::new();
        if !rest.is_empty() {
            self.line(&rest, &mut text, &mut pieces);
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        pieces
    }

    /// One line (with its newline, if any): text, a command, or a stop/resume marker.
    fn line(&mut self, line: &[u8], text: &mut Vec<u8>, pieces: &mut Vec<Piece>) {
        let body = trim_line(line);
        if let Some(token) = &self.stopped_until {
            if body.strip_prefix(b"::").and_then(|b| b.strip_suffix(b"::"))
                == Some(token.as_bytes())
            {
                self.stopped_until = None;
            } else {
                text.extend_from_slice(line);
            }
            return;
        }
        let Some(parsed) = parse(body) else {
            text.extend_from_slice(line);
            return;
        };
        if !text.is_empty() {
            pieces.push(Piece::Text(std::mem::take(text)));
        }
        match parsed {
            Parsed::Stop(token) => self.stopped_until = Some(token),
            Parsed::Command(c) => pieces.push(Piece::Command(c)),
        }
    }
}

enum Parsed {
    Command(WorkflowCommand),
    Stop(String),
}

/// Could `partial` (the start of a line) still turn out to be a command line?
fn may_become_command(partial: &[u8]) -> bool {
    let s = trim_blanks(partial);
    if partial.is_empty() {
        return false;
    }
    s.is_empty() || s == b":" || s.starts_with(b"::")
}

fn trim_blanks(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| *c != b' ' && *c != b'\t')
        .unwrap_or(b.len());
    &b[start..]
}

/// The line without leading blanks and its line ending.
fn trim_line(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    trim_blanks(line)
}

fn parse(body: &[u8]) -> Option<Parsed> {
    let rest = body.strip_prefix(b"::")?;
    let end = memchr::memmem::find(rest, b"::")?;
    let info = String::from_utf8_lossy(&rest[..end]);
    let data = String::from_utf8_lossy(&rest[end + 2..]);
    let (name, props) = match info.split_once(' ') {
        Some((n, p)) => (n, p.trim()),
        None => (info.as_ref(), ""),
    };
    let prop = |key: &str| -> Option<String> {
        props
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(key))
            .map(|(_, v)| unescape_property(v))
    };
    let data = unescape_data(&data);
    let command = match name.to_ascii_lowercase().as_str() {
        "add-mask" => WorkflowCommand::AddMask(data),
        "debug" => WorkflowCommand::Debug(data),
        "group" => WorkflowCommand::Group(data),
        "endgroup" => WorkflowCommand::EndGroup,
        "set-output" => WorkflowCommand::SetOutput {
            name: prop("name").filter(|n| !n.is_empty())?,
            value: data,
        },
        "stop-commands" if !data.is_empty() => return Some(Parsed::Stop(data)),
        level @ ("error" | "warning" | "notice") => {
            let level = match level {
                "error" => Level::Error,
                "warning" => Level::Warning,
                _ => Level::Info,
            };
            let mut place = prop("file").unwrap_or_default();
            for key in ["line", "col"] {
                if let Some(v) = prop(key).filter(|_| !place.is_empty()) {
                    place = format!("{place}:{v}");
                }
            }
            let mut message = String::new();
            if !place.is_empty() {
                message.push_str(&place);
                message.push_str(": ");
            }
            if let Some(title) = prop("title").filter(|t| !t.is_empty()) {
                message.push_str(&title);
                message.push_str(": ");
            }
            message.push_str(&data);
            WorkflowCommand::Annotation { level, message }
        }
        _ => return None,
    };
    Some(Parsed::Command(command))
}

fn unescape_data(s: &str) -> String {
    s.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%25", "%")
}

fn unescape_property(s: &str) -> String {
    s.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%3A", ":")
        .replace("%2C", ",")
        .replace("%25", "%")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn scan(chunks: &[&[u8]]) -> Vec<Piece> {
        let mut s = CommandScanner::default();
        let mut out = Vec::new();
        for c in chunks {
            out.extend(s.push(c));
        }
        out.extend(s.finish());
        out
    }

    fn text(pieces: &[Piece]) -> Vec<u8> {
        pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Text(t) => Some(t.clone()),
                Piece::Command(_) => None,
            })
            .flatten()
            .collect()
    }

    fn commands(pieces: &[Piece]) -> Vec<WorkflowCommand> {
        pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Command(c) => Some(c.clone()),
                Piece::Text(_) => None,
            })
            .collect()
    }

    #[test]
    fn commands_split_across_chunks_are_found_in_order() {
        let p = scan(&[
            b"before\n  ::add-",
            b"mask::s3cr%25et\r\nafter ::x:: not a command\n",
        ]);
        assert_eq!(
            p,
            vec![
                Piece::Text(b"before\n".to_vec()),
                Piece::Command(WorkflowCommand::AddMask("s3cr%et".into())),
                Piece::Text(b"after ::x:: not a command\n".to_vec()),
            ]
        );
    }

    #[test]
    fn annotations_render_their_place_and_title() {
        let p = scan(&[
            b"::error file=app.js,line=1,col=5,title=Lint%3A semi::Missing semicolon%0Ahere\n",
            b"::warning::plain\n::notice title=t::n",
        ]);
        assert_eq!(
            commands(&p),
            vec![
                WorkflowCommand::Annotation {
                    level: Level::Error,
                    message: "app.js:1:5: Lint: semi: Missing semicolon\nhere".into()
                },
                WorkflowCommand::Annotation {
                    level: Level::Warning,
                    message: "plain".into()
                },
                WorkflowCommand::Annotation {
                    level: Level::Info,
                    message: "t: n".into()
                },
            ]
        );
    }

    #[test]
    fn stop_commands_turns_them_off_until_the_token() {
        let p = scan(&[
            b"::stop-commands::tok1\n::add-mask::shown\n::tok1::\n::set-output name=a::1\n",
        ]);
        assert_eq!(text(&p), b"::add-mask::shown\n");
        assert_eq!(
            commands(&p),
            vec![WorkflowCommand::SetOutput {
                name: "a".into(),
                value: "1".into()
            }]
        );
    }

    #[test]
    fn unknown_and_malformed_commands_are_output() {
        let input: &[u8] = b"::nope::x\n::set-output::no name\n::error\n:: ::\n";
        assert_eq!(text(&scan(&[input])), input);
    }

    #[test]
    fn only_a_possible_command_is_held_back() {
        let mut s = CommandScanner::default();
        assert_eq!(
            s.push(b"progress 50%"),
            vec![Piece::Text(b"progress 50%".to_vec())]
        );
        assert_eq!(s.push(b"\n  :"), vec![Piece::Text(b"\n".to_vec())]);
        assert_eq!(s.push(b"x"), vec![Piece::Text(b"  :x".to_vec())]);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_and_lose_nothing_outside_commands(
            data in proptest::collection::vec(any::<u8>(), 0..400),
            cut in 0usize..400,
        ) {
            let cut = cut.min(data.len());
            let pieces = scan(&[&data[..cut], &data[cut..]]);
            if memchr::memmem::find(&data, b"::").is_none() {
                prop_assert_eq!(text(&pieces), data);
            }
        }

        #[test]
        fn text_without_commands_passes_through_whatever_the_chunking(
            data in "[a-c: \\n]{0,120}",
            cuts in proptest::collection::vec(0usize..120, 0..6),
        ) {
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
            let whole = scan(&[bytes]);
            let split = scan(&chunks);
            prop_assert_eq!(text(&whole), text(&split));
            prop_assert_eq!(commands(&whole), commands(&split));
        }
    }
}
