//! The cases that send requests by hand: malformed ones that must come back as error
//! objects, the request id echo, and whoami. Requests are shaped as the adapter's dialect
//! shapes them (in the epack dialect, no gantry fields and no trailing newline).

use serde_json::json;

use super::{Outcome, Suite};
use crate::adapter::{new_request_id, Adapter};
use crate::protocol::{command, Capabilities, ErrorCode, PROTOCOL_VERSION};

pub(super) async fn cases(suite: &mut Suite<'_>, adapter: &Adapter, caps: &Capabilities) {
    let gantry = adapter.dialect().sends_gantry_fields();
    let envelope = |kind: &str, id: &str| {
        let mut v = json!({"type": kind, "protocol_version": PROTOCOL_VERSION, "request_id": id});
        if gantry {
            v["remote"] = adapter.name().into();
        }
        v
    };
    suite
        .case("unknown_command_is_an_error", async {
            // epack's spec answers invalid_request, its Go SDK unsupported_protocol.
            let id = new_request_id();
            let value = send(
                adapter,
                "gantry.no-such-command",
                &envelope("gantry.no-such-command", &id),
            )
            .await?;
            expect_error(
                &value,
                Some(&id),
                &[ErrorCode::InvalidRequest, ErrorCode::UnsupportedProtocol],
            )
        })
        .await;
    suite
        .case("request_id_echoed", async {
            let id = format!("conformance \"quoted\" ü {}", new_request_id());
            let mut body = envelope(command::PULL_PREPARE, &id);
            body["type"] = command::PULL_PREPARE.into();
            body["target"] = json!({});
            body["ref"] = json!({"digest": format!("sha256:{}", "0".repeat(64))});
            let value = send(adapter, command::PULL_PREPARE, &body).await?;
            match value.get("request_id").and_then(|v| v.as_str()) {
                Some(echo) if echo == id => Ok(String::new()),
                other => Err(format!("sent request_id {id:?}, got back {other:?}")),
            }
        })
        .await;
    suite
        .case("bad_request_is_an_error", async {
            let id = new_request_id();
            let missing_pack = envelope(command::PUSH_PREPARE, &id);
            let value = send(adapter, command::PUSH_PREPARE, &missing_pack).await?;
            expect_error(&value, Some(&id), &[ErrorCode::InvalidRequest])
                .map_err(|e| format!("push.prepare without `pack`: {e}"))?;
            let value = adapter
                .exchange(command::PUSH_PREPARE, b"this is not json")
                .await
                .map_err(|e| e.to_string())?;
            expect_error(&value, None, &[ErrorCode::InvalidRequest])
                .map_err(|e| format!("a request that is not JSON: {e}"))
        })
        .await;
    suite
        .case("unsupported_protocol_is_an_error", async {
            let id = new_request_id();
            let mut body = envelope(command::AUTH_WHOAMI, &id);
            body["protocol_version"] = 99.into();
            let value = send(adapter, command::AUTH_WHOAMI, &body).await?;
            expect_error(&value, Some(&id), &[ErrorCode::UnsupportedProtocol])
        })
        .await;
    suite
        .case("whoami", async {
            if !caps.features.whoami {
                return Ok("skipped: whoami not advertised".into());
            }
            let who = adapter.auth_whoami().await.map_err(|e| e.to_string())?;
            Ok(format!(
                "authenticated: {}, subject: {}",
                who.identity.authenticated,
                who.identity.subject.as_deref().unwrap_or("-")
            ))
        })
        .await;
}

async fn send(
    adapter: &Adapter,
    command: &str,
    body: &serde_json::Value,
) -> Result<serde_json::Value, String> {
    let bytes = serde_json::to_vec(body).map_err(|e| e.to_string())?;
    adapter
        .exchange(command, &bytes)
        .await
        .map_err(|e| e.to_string())
}

/// Checks `value` is an error object with one of `codes`, a message, and (when `id` is
/// given) the request id echoed.
fn expect_error(value: &serde_json::Value, id: Option<&str>, codes: &[ErrorCode]) -> Outcome {
    let shown: String = value.to_string().chars().take(200).collect();
    if value.get("ok").and_then(|v| v.as_bool()) != Some(false)
        || value.get("type").and_then(|v| v.as_str()) != Some("error")
    {
        return Err(format!(
            "expected {{ok: false, type: \"error\"}}, got {shown}"
        ));
    }
    if let Some(id) = id {
        if value.get("request_id").and_then(|v| v.as_str()) != Some(id) {
            return Err(format!("error does not echo request_id {id:?}: {shown}"));
        }
    }
    let got = value
        .pointer("/error/code")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    if !codes.iter().any(|c| c.as_str() == got) {
        let wanted: Vec<&str> = codes.iter().map(ErrorCode::as_str).collect();
        return Err(format!(
            "expected error code {}, got `{got}`: {shown}",
            wanted.join(" or ")
        ));
    }
    if value
        .pointer("/error/message")
        .and_then(|v| v.as_str())
        .is_none_or(str::is_empty)
    {
        return Err(format!("error has no message: {shown}"));
    }
    Ok(got.to_string())
}
