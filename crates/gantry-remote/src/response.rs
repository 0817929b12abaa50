//! Decoding what an adapter printed: untrusted bytes in, a typed result, an adapter error,
//! or the reason the bytes break the protocol out. Never panics on any input (a property
//! test below feeds it arbitrary bytes and arbitrary JSON).
//!
//! Accepted like epack's executor accepts them: `ok: false` (with or without `type:
//! "error"`) is an error response; a result carries `ok: true` and a `type` that is
//! `<command>.result`, the bare command (what epack's Go SDK writes) or absent. gantry
//! adds one check epack does not make: a `request_id` that is present must be the one
//! sent.

use serde::de::DeserializeOwned;

use crate::protocol::{result_type, ErrorBody};

/// A decoded response.
#[derive(Debug)]
pub(crate) enum Answer<T> {
    /// `ok: true` and the body decoded.
    Result(T),
    /// `ok: false` and its error object.
    Error(ErrorBody),
}

/// Parses `stdout` as one JSON object.
pub(crate) fn parse_object(stdout: &[u8]) -> Result<serde_json::Value, String> {
    let text = String::from_utf8_lossy(stdout);
    let text = text.trim();
    if text.is_empty() {
        return Err("no response on stdout".into());
    }
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        let what = if e.is_eof() {
            "the response is incomplete JSON (truncated output?)"
        } else {
            "the response is not a JSON object"
        };
        let shown: String = text.chars().take(120).collect();
        format!("{what}: {e}; output began with `{shown}`")
    })?;
    if !value.is_object() {
        return Err("the response is not a JSON object".into());
    }
    Ok(value)
}

/// Decodes the response to request `request_id` of `command`.
pub(crate) fn decode<T: DeserializeOwned>(
    command: &str,
    request_id: &str,
    stdout: &[u8],
) -> Result<Answer<T>, String> {
    decode_value(command, request_id, parse_object(stdout)?)
}

/// [`decode`] of an already parsed object.
pub(crate) fn decode_value<T: DeserializeOwned>(
    command: &str,
    request_id: &str,
    value: serde_json::Value,
) -> Result<Answer<T>, String> {
    let kind = value
        .get("type")
        .and_then(|t| t.as_str())
        .map(str::to_string);
    let echoed = value
        .get("request_id")
        .and_then(|t| t.as_str())
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let ok = value.get("ok").and_then(|v| v.as_bool());
    if ok == Some(false) || kind.as_deref() == Some("error") {
        let error = match value.get("error") {
            Some(e) => serde_json::from_value::<ErrorBody>(e.clone())
                .map_err(|e| format!("malformed error response: {e}"))?,
            None => return Err("the adapter answered `ok: false` without an `error` object".into()),
        };
        if let Some(echoed) = echoed.filter(|e| e != request_id) {
            return Err(format!(
                "error response carries request_id `{echoed}`, expected `{request_id}` (the error was: {})",
                error.message
            ));
        }
        return Ok(Answer::Error(error));
    }
    let expected = result_type(command);
    if let Some(kind) = kind.filter(|k| *k != expected && k != command) {
        return Err(format!("response type is `{kind}`, expected `{expected}`"));
    }
    if let Some(echoed) = echoed.filter(|e| e != request_id) {
        return Err(format!(
            "response carries request_id `{echoed}`, expected `{request_id}`"
        ));
    }
    if ok != Some(true) {
        return Err("a result response must carry `ok: true`".into());
    }
    serde_json::from_value(value)
        .map(Answer::Result)
        .map_err(|e| format!("response does not match the protocol: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ErrorCode, PullPrepared, PushPrepared, WhoAmI};
    use proptest::prelude::*;

    fn whoami(text: &str) -> Result<Answer<WhoAmI>, String> {
        decode("auth.whoami", "r1", text.as_bytes())
    }

    #[test]
    fn result_types_epack_accepts_are_accepted() {
        for t in [
            r#"{"ok":true,"type":"auth.whoami.result","request_id":"r1","identity":{"authenticated":true}}"#,
            r#"{"ok":true,"type":"auth.whoami","request_id":"r1","identity":{"authenticated":true}}"#,
            r#"{"ok":true,"identity":{"authenticated":true}}"#,
        ] {
            assert!(matches!(whoami(t), Ok(Answer::Result(_))), "{t}");
        }
    }

    #[test]
    fn what_breaks_the_protocol_is_named() {
        let cases = [
            ("", "no response"),
            ("{\"ok\": true, \"type\":", "incomplete JSON"),
            ("hello", "not a JSON object"),
            ("[1]", "not a JSON object"),
            (
                r#"{"ok":true,"type":"push.prepare.result","request_id":"r1"}"#,
                "expected `auth.whoami.result`",
            ),
            (
                r#"{"ok":true,"type":"auth.whoami.result","request_id":"r2"}"#,
                "request_id `r2`",
            ),
            (
                r#"{"type":"auth.whoami.result","request_id":"r1"}"#,
                "`ok: true`",
            ),
            (
                r#"{"ok":false,"type":"error","request_id":"r1"}"#,
                "without an `error` object",
            ),
            (
                r#"{"ok":true,"identity":{"authenticated":"yes"}}"#,
                "does not match the protocol",
            ),
        ];
        for (text, wanted) in cases {
            match whoami(text) {
                Err(reason) => assert!(reason.contains(wanted), "{text}: {reason}"),
                Ok(a) => panic!("{text} decoded: {a:?}"),
            }
        }
    }

    #[test]
    fn errors_are_read_with_or_without_their_type() {
        for t in [
            r#"{"ok":false,"type":"error","request_id":"r1","error":{"code":"not_found","message":"m"}}"#,
            r#"{"ok":false,"error":{"code":"not_found","message":"m","action":"text"}}"#,
        ] {
            match whoami(t) {
                Ok(Answer::Error(e)) => assert_eq!(e.code, ErrorCode::NotFound),
                other => panic!("{t}: {other:?}"),
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode::<WhoAmI>("auth.whoami", "r", &bytes);
            let _ = decode::<PullPrepared>("pull.prepare", "r", &bytes);
            let _ = decode::<PushPrepared>("push.prepare", "r", &bytes);
        }

        #[test]
        fn arbitrary_json_never_panics(value in json_value()) {
            let _ = decode_value::<WhoAmI>("auth.whoami", "r", value.clone());
            let _ = decode_value::<PullPrepared>("pull.prepare", "r", value.clone());
            let text = serde_json::to_vec(&value).unwrap_or_default();
            let _ = decode::<PushPrepared>("push.prepare", "r", &text);
        }

        #[test]
        fn arbitrary_text_in_the_right_places_never_panics(
            ok in any::<Option<bool>>(),
            kind in proptest::option::of("[a-z.]{0,24}"),
            id in proptest::option::of(".{0,8}"),
            code in ".{0,16}",
            digest in ".{0,80}",
        ) {
            let mut v = serde_json::json!({
                "download": {"url": digest, "headers": {"a": code}},
                "pack": {"digest": digest, "size_bytes": 3},
                "error": {"code": code, "message": digest},
            });
            if let Some(ok) = ok { v["ok"] = ok.into(); }
            if let Some(kind) = kind { v["type"] = kind.into(); }
            if let Some(id) = id { v["request_id"] = id.into(); }
            let _ = decode_value::<PullPrepared>("pull.prepare", "r", v);
        }
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
                .map_or(serde_json::Value::Null, serde_json::Value::Number)),
            prop_oneof![
                Just("ok".to_string()),
                Just("type".to_string()),
                Just("error".to_string()),
                Just("auth.whoami.result".to_string()),
                ".{0,12}"
            ]
            .prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..8).prop_map(serde_json::Value::from),
                proptest::collection::btree_map(
                    prop_oneof![
                        Just("ok".to_string()),
                        Just("type".to_string()),
                        Just("request_id".to_string()),
                        Just("error".to_string()),
                        Just("code".to_string()),
                        Just("identity".to_string()),
                        Just("download".to_string()),
                        Just("pack".to_string()),
                        "[a-z_]{0,10}"
                    ],
                    inner,
                    0..8
                )
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
