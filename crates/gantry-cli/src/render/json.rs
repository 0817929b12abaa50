//! `--json`: one JSON object per event and line, with a `time` field added.

use std::io::Write;

use gantry_engine::Event;

use super::Renderer;

pub(crate) struct JsonRenderer {
    out: std::io::BufWriter<std::io::Stdout>,
}

impl JsonRenderer {
    pub(crate) fn new() -> Self {
        JsonRenderer {
            out: std::io::BufWriter::new(std::io::stdout()),
        }
    }
}

impl Renderer for JsonRenderer {
    fn event(&mut self, event: &Event) {
        let mut value = match serde_json::to_value(event) {
            Ok(v) => v,
            Err(_) => return,
        };
        if let serde_json::Value::Object(m) = &mut value {
            m.insert(
                "time".into(),
                serde_json::Value::String(
                    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
                ),
            );
        }
        let _ = serde_json::to_writer(&mut self.out, &value);
        let _ = self.out.write_all(b"\n");
        // One line per event, written whole: a consumer reading the stream sees each
        // event as it happens, output included.
        let _ = self.out.flush();
    }

    fn finish(&mut self) {
        let _ = self.out.flush();
    }
}
