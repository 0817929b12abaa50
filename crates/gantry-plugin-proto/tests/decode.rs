#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Whatever a plugin sends, turning it into contract types never panics: every decoder and
//! conversion is fed arbitrary bytes, and bytes built as valid protobuf with arbitrary
//! field values (so conversions see decoded messages, not only decode errors).
//!
//! `PROPTEST_CASES` raises the number of cases (the normal run uses a few thousand).

use gantry_backend::RunnerInfo;
use gantry_plugin_proto::convert;
use gantry_plugin_proto::v1;
use proptest::prelude::*;
use prost::Message;

/// Decodes `bytes` as every message a plugin answers with (or gantry sends it) and runs
/// each through its conversion.
fn decode_everything(bytes: &[u8]) {
    if let Ok(m) = v1::Label::decode(bytes) {
        let _ = convert::label_from_wire("p", Some(m));
    }
    if let Ok(m) = v1::Capabilities::decode(bytes) {
        let _ = convert::capabilities_from_wire("p", &m);
    }
    if let Ok(m) = v1::RunnerInfo::decode(bytes) {
        let _ = convert::runner_from_wire(Some(m), &RunnerInfo::default());
    }
    if let Ok(m) = v1::DockerEndpoint::decode(bytes) {
        let _ = convert::endpoint_from_wire(Some(m));
    }
    if let Ok(m) = v1::ContainerSpec::decode(bytes) {
        let _ = convert::spec_from_wire(Some(m));
    }
    if let Ok(m) = v1::CreateContainerRequest::decode(bytes) {
        let _ = convert::spec_from_wire(m.spec);
    }
    if let Ok(m) = v1::ContainerInfo::decode(bytes) {
        let _ = convert::container_info_from_wire(&m);
    }
    if let Ok(m) = v1::ExecRequest::decode(bytes) {
        let _ = convert::exec_from_wire(&m);
    }
    if let Ok(m) = v1::ExecEvent::decode(bytes) {
        let _ = format!("{m:?}");
    }
    if let Ok(m) = v1::Output::decode(bytes) {
        let _ = convert::stream_from_wire(m.stream);
    }
    if let Ok(m) = v1::Exit::decode(bytes) {
        let _ = convert::exit_from_wire(&m);
    }
    if let Ok(m) = v1::SignalRequest::decode(bytes) {
        let _ = convert::stop_from_wire(m.level);
    }
    if let Ok(m) = v1::HealthResponse::decode(bytes) {
        let _ = convert::health_from_wire(&m);
    }
    if let Ok(m) = v1::ReapResponse::decode(bytes) {
        let _ = convert::reap_from_wire(m);
    }
    if let Ok(m) = v1::CreateEnvironmentResponse::decode(bytes) {
        let _ = convert::runner_from_wire(m.runner.clone(), &RunnerInfo::default());
        let _ = convert::endpoint_from_wire(m.docker.clone());
    }
    if let Ok(m) = v1::ReadEnvFileResponse::decode(bytes) {
        let _ = format!("{m:?}");
    }
}

/// Protobuf bytes with arbitrary fields (numbers 1 to 20) of every wire type, nested
/// messages included: they decode into most message types with arbitrary values.
fn wire(depth: u32) -> BoxedStrategy<Vec<u8>> {
    let leaf = prop_oneof![
        (1u32..20, any::<u64>()).prop_map(|(f, v)| field(f, 0, &varint(v))),
        (1u32..20, proptest::collection::vec(any::<u8>(), 0..24)).prop_map(|(f, b)| field(
            f,
            2,
            &[varint(b.len() as u64), b].concat()
        )),
        (1u32..20, "[a-z/:.0-9 -]{0,16}").prop_map(|(f, s)| {
            let b = s.into_bytes();
            field(f, 2, &[varint(b.len() as u64), b].concat())
        }),
        (1u32..20, any::<u32>()).prop_map(|(f, v)| field(f, 5, &v.to_le_bytes())),
        (1u32..20, any::<u64>()).prop_map(|(f, v)| field(f, 1, &v.to_le_bytes())),
    ];
    let one = if depth == 0 {
        leaf.boxed()
    } else {
        prop_oneof![
            4 => leaf,
            1 => (1u32..20, wire(depth - 1))
                .prop_map(|(f, b)| field(f, 2, &[varint(b.len() as u64), b].concat())),
        ]
        .boxed()
    };
    proptest::collection::vec(one, 0..12)
        .prop_map(|parts| parts.concat())
        .boxed()
}

fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

fn field(number: u32, wire_type: u32, value: &[u8]) -> Vec<u8> {
    [varint(u64::from(number << 3 | wire_type)), value.to_vec()].concat()
}

fn cases(default: u32) -> ProptestConfig {
    let n = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig::with_cases(n)
}

proptest! {
    #![proptest_config(cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        decode_everything(&bytes);
    }

    #[test]
    fn arbitrary_field_values_never_panic(bytes in wire(2)) {
        decode_everything(&bytes);
    }

    #[test]
    fn arbitrary_statuses_map_to_errors(code in 0i32..20, message in "\\PC{0,40}") {
        let status = tonic::Status::new(tonic::Code::from_i32(code), message);
        let e = convert::status_to_error("p", "Exec", &status);
        prop_assert!(!e.to_string().is_empty());
    }
}
