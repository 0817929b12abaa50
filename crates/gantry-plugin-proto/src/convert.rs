//! Conversions between the backend contract's types and the wire messages, in both
//! directions, and between [`BackendError`] and gRPC statuses.
//!
//! Decoding never trusts the peer: an unknown enum value or a missing required field is a
//! [`Malformed`] error naming the field, which each side turns into a clear message.

use std::time::Duration;

use gantry_backend::{
    BackendError, Capabilities, ContainerKind, ContainerPaths, ContainerSpec, DockerEndpoint,
    ExecRequest, ExitStatus, Health, HealthCheck, LabelSpec, PortMapping, PullPolicy, ReapReport,
    RunnerInfo, Sandbox, StopLevel, Stream,
};
use indexmap::IndexMap;
use tonic::{Code, Status};

use crate::v1;

/// A message from the peer that does not say what the protocol requires.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct Malformed {
    /// The offending field, dotted from the message (`spec.kind`).
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Malformed {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Malformed {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl From<Malformed> for Status {
    fn from(m: Malformed) -> Status {
        Status::invalid_argument(m.to_string())
    }
}

// -------------------------------------------------------------------------------------
// Labels, capabilities, runner facts

/// The wire form of a label spec.
pub fn label_to_wire(spec: &LabelSpec) -> v1::Label {
    v1::Label {
        label: spec.label.clone(),
        target: spec.target.clone(),
        options: spec
            .options
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

/// A label spec for backend `backend` from its wire form (options sorted by key).
pub fn label_from_wire(backend: &str, label: Option<v1::Label>) -> Result<LabelSpec, Malformed> {
    let label = label.ok_or_else(|| Malformed::new("label", "missing"))?;
    let mut spec = LabelSpec::new(label.label, backend);
    spec.target = label.target;
    let mut options: Vec<_> = label.options.into_iter().collect();
    options.sort();
    spec.options = options.into_iter().collect();
    Ok(spec)
}

/// The wire capabilities of a contract backend: what the SDK announces.
pub fn capabilities_to_wire(c: &Capabilities, runner_name: &str) -> v1::Capabilities {
    v1::Capabilities {
        protocol_version: crate::PROTOCOL_VERSION,
        protocol_revision: crate::PROTOCOL_REVISION,
        backend_name: c.backend.clone(),
        job_container: c.job_container,
        services: c.services,
        step_containers: c.step_containers,
        own_networking: c.own_networking,
        os: c.os.clone(),
        arch: c.arch.clone(),
        paths: Some(v1::PathConventions {
            style: "posix".into(),
            tool_cache: String::new(),
        }),
        runner: Some(v1::RunnerContext {
            name: runner_name.into(),
            environment: "self-hosted".into(),
        }),
        workspace: v1::WorkspaceDelivery::LocalPath as i32,
    }
}

/// Contract capabilities for the plugin backend `id` from what the plugin announced.
pub fn capabilities_from_wire(id: &str, c: &v1::Capabilities) -> Capabilities {
    let mut caps =
        Capabilities::plain(id).with_containers(c.job_container, c.services, c.step_containers);
    caps.own_networking = c.own_networking;
    if !c.os.is_empty() {
        caps.os = c.os.clone();
    }
    if !c.arch.is_empty() {
        caps.arch = c.arch.clone();
    }
    caps
}

/// The wire form of runner facts.
pub fn runner_to_wire(r: &RunnerInfo) -> v1::RunnerInfo {
    v1::RunnerInfo {
        name: r.name.clone(),
        os: r.os.clone(),
        arch: r.arch.clone(),
        temp: r.temp.clone(),
        tool_cache: r.tool_cache.clone(),
        environment: r.environment.clone(),
    }
}

/// Runner facts from the wire; empty fields fall back to `defaults`.
pub fn runner_from_wire(r: Option<v1::RunnerInfo>, defaults: &RunnerInfo) -> RunnerInfo {
    let r = r.unwrap_or_default();
    let pick = |v: String, d: &String| if v.is_empty() { d.clone() } else { v };
    let mut out = RunnerInfo::new(
        pick(r.name, &defaults.name),
        pick(r.os, &defaults.os),
        pick(r.arch, &defaults.arch),
    );
    out.temp = pick(r.temp, &defaults.temp);
    out.tool_cache = pick(r.tool_cache, &defaults.tool_cache);
    out.environment = pick(r.environment, &defaults.environment);
    out
}

/// The wire form of a Docker endpoint.
pub fn endpoint_to_wire(e: &DockerEndpoint) -> v1::DockerEndpoint {
    v1::DockerEndpoint {
        address: e.address.clone(),
        ca_pem: e.ca_pem.clone().unwrap_or_default(),
        cert_pem: e.cert_pem.clone().unwrap_or_default(),
        key_pem: e.key_pem.clone().unwrap_or_default(),
    }
}

/// A Docker endpoint from the wire; `None` when absent or its address is empty.
pub fn endpoint_from_wire(
    e: Option<v1::DockerEndpoint>,
) -> Result<Option<DockerEndpoint>, Malformed> {
    let Some(e) = e.filter(|e| !e.address.is_empty()) else {
        return Ok(None);
    };
    if !(e.address.starts_with("unix://") || e.address.starts_with("tcp://")) {
        return Err(Malformed::new(
            "docker.address",
            format!("`{}` is neither unix:// nor tcp://", e.address),
        ));
    }
    let opt = |s: String| (!s.is_empty()).then_some(s);
    let mut out = DockerEndpoint::default();
    out.address = e.address;
    out.ca_pem = opt(e.ca_pem);
    out.cert_pem = opt(e.cert_pem);
    out.key_pem = opt(e.key_pem);
    Ok(Some(out))
}

// -------------------------------------------------------------------------------------
// Containers

fn kind_to_wire(k: Option<ContainerKind>) -> i32 {
    match k {
        None => v1::ContainerKind::Unspecified as i32,
        Some(ContainerKind::Job) => v1::ContainerKind::Job as i32,
        Some(ContainerKind::Service) => v1::ContainerKind::Service as i32,
        Some(ContainerKind::Step) => v1::ContainerKind::Step as i32,
    }
}

fn kind_from_wire(k: i32) -> Result<ContainerKind, Malformed> {
    match v1::ContainerKind::try_from(k) {
        Ok(v1::ContainerKind::Job) => Ok(ContainerKind::Job),
        Ok(v1::ContainerKind::Service) => Ok(ContainerKind::Service),
        Ok(v1::ContainerKind::Step) => Ok(ContainerKind::Step),
        _ => Err(Malformed::new(
            "spec.kind",
            format!("{k} is not JOB, SERVICE or STEP"),
        )),
    }
}

fn millis(d: Option<Duration>) -> u64 {
    d.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn from_millis(ms: u64) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(ms))
}

fn port_from_wire(i: usize, p: v1::PortMapping) -> Result<PortMapping, Malformed> {
    let field = |f: &str| format!("spec.ports[{i}].{f}");
    let container = u16::try_from(p.container_port)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| {
            Malformed::new(
                field("container_port"),
                format!("{} is not a port", p.container_port),
            )
        })?;
    let host = match p.host_port {
        0 => None,
        h => Some(
            u16::try_from(h)
                .map_err(|_| Malformed::new(field("host_port"), format!("{h} is not a port")))?,
        ),
    };
    let protocol = match p.protocol.as_str() {
        "" | "tcp" => "tcp",
        "udp" => "udp",
        other => {
            return Err(Malformed::new(
                field("protocol"),
                format!("`{other}` is neither tcp nor udp"),
            ))
        }
    };
    Ok(PortMapping {
        container,
        host,
        protocol: protocol.into(),
    })
}

/// The wire form of a container spec.
pub fn spec_to_wire(s: &ContainerSpec) -> v1::ContainerSpec {
    v1::ContainerSpec {
        kind: kind_to_wire(s.kind),
        name: s.name.clone(),
        image: s.image.clone(),
        credentials: s.credentials.as_ref().map(|(u, p)| v1::Credentials {
            username: u.clone(),
            password: p.clone(),
        }),
        pull: match s.pull {
            PullPolicy::Never => v1::PullPolicy::Never,
            PullPolicy::IfNotPresent => v1::PullPolicy::IfNotPresent,
            PullPolicy::Always => v1::PullPolicy::Always,
        } as i32,
        env: s.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        entrypoint: s.entrypoint.clone().map(|values| v1::StringList { values }),
        command: s.command.clone().map(|values| v1::StringList { values }),
        ports: s
            .ports
            .iter()
            .map(|p| v1::PortMapping {
                container_port: u32::from(p.container),
                host_port: p.host.map(u32::from).unwrap_or(0),
                protocol: p.protocol.clone(),
            })
            .collect(),
        volumes: s.volumes.clone(),
        options: s.options.clone().unwrap_or_default(),
        health: s.health.as_ref().map(|h| v1::HealthCheck {
            test: h.test.clone(),
            interval_ms: millis(h.interval),
            timeout_ms: millis(h.timeout),
            retries: h.retries.unwrap_or(0),
            start_period_ms: millis(h.start_period),
        }),
        sandbox: Some(v1::Sandbox {
            memory_bytes: s.sandbox.memory_bytes.unwrap_or(0),
            nano_cpus: s.sandbox.nano_cpus.unwrap_or(0),
            pids_limit: s.sandbox.pids_limit.unwrap_or(0),
            network: s.sandbox.network.clone().unwrap_or_default(),
            read_only_rootfs: s.sandbox.read_only_rootfs,
            cap_drop_all: s.sandbox.cap_drop_all,
            no_new_privileges: s.sandbox.no_new_privileges,
            user: s.sandbox.user.clone().unwrap_or_default(),
        }),
        aliases: s.aliases.clone(),
        mount_workspace: s.mount_workspace,
    }
}

/// A container spec from the wire, checked field by field.
pub fn spec_from_wire(s: Option<v1::ContainerSpec>) -> Result<ContainerSpec, Malformed> {
    let s = s.ok_or_else(|| Malformed::new("spec", "missing"))?;
    let kind = kind_from_wire(s.kind)?;
    if s.name.is_empty() {
        return Err(Malformed::new("spec.name", "empty"));
    }
    if s.image.is_empty() {
        return Err(Malformed::new("spec.image", "empty"));
    }
    let mut out = ContainerSpec::new(kind, s.name, s.image);
    out.credentials = s.credentials.map(|c| (c.username, c.password));
    out.pull = match v1::PullPolicy::try_from(s.pull) {
        Ok(v1::PullPolicy::Never) => PullPolicy::Never,
        Ok(v1::PullPolicy::Always) => PullPolicy::Always,
        Ok(v1::PullPolicy::IfNotPresent | v1::PullPolicy::Unspecified) => PullPolicy::IfNotPresent,
        Err(_) => {
            return Err(Malformed::new(
                "spec.pull",
                format!("{} is not a pull policy", s.pull),
            ))
        }
    };
    out.env = sorted(s.env);
    out.entrypoint = s.entrypoint.map(|l| l.values);
    out.command = s.command.map(|l| l.values);
    out.ports = s
        .ports
        .into_iter()
        .enumerate()
        .map(|(i, p)| port_from_wire(i, p))
        .collect::<Result<_, _>>()?;
    out.volumes = s.volumes;
    out.options = (!s.options.is_empty()).then_some(s.options);
    out.health = s.health.map(|h| {
        let mut hc = HealthCheck::default();
        hc.test = h.test;
        hc.interval = from_millis(h.interval_ms);
        hc.timeout = from_millis(h.timeout_ms);
        hc.retries = (h.retries > 0).then_some(h.retries);
        hc.start_period = from_millis(h.start_period_ms);
        hc
    });
    let sb = s.sandbox.unwrap_or_default();
    let mut sandbox = Sandbox::default();
    sandbox.memory_bytes = (sb.memory_bytes > 0).then_some(sb.memory_bytes);
    sandbox.nano_cpus = (sb.nano_cpus > 0).then_some(sb.nano_cpus);
    sandbox.pids_limit = (sb.pids_limit != 0).then_some(sb.pids_limit);
    sandbox.network = (!sb.network.is_empty()).then_some(sb.network);
    sandbox.read_only_rootfs = sb.read_only_rootfs;
    sandbox.cap_drop_all = sb.cap_drop_all;
    sandbox.no_new_privileges = sb.no_new_privileges;
    sandbox.user = (!sb.user.is_empty()).then_some(sb.user);
    out.sandbox = sandbox;
    out.aliases = s.aliases;
    out.mount_workspace = s.mount_workspace;
    Ok(out)
}

/// Container paths and inherited environment from a [`v1::ContainerInfo`].
pub fn container_info_from_wire(
    info: &v1::ContainerInfo,
) -> Result<(ContainerPaths, IndexMap<String, String>), Malformed> {
    if info.container_id.is_empty() {
        return Err(Malformed::new("container_id", "empty"));
    }
    for (field, path) in [("workspace", &info.workspace), ("temp", &info.temp)] {
        if !path.starts_with('/') {
            return Err(Malformed::new(
                field,
                format!("`{path}` is not an absolute path"),
            ));
        }
    }
    Ok((
        ContainerPaths::new(info.workspace.clone(), info.temp.clone()),
        sorted(info.inherited_env.clone()),
    ))
}

fn sorted(map: std::collections::HashMap<String, String>) -> IndexMap<String, String> {
    let mut v: Vec<_> = map.into_iter().collect();
    v.sort();
    v.into_iter().collect()
}

// -------------------------------------------------------------------------------------
// Exec

/// The wire form of an exec request.
pub fn exec_to_wire(exec_id: &str, container_id: &str, r: &ExecRequest) -> v1::ExecRequest {
    v1::ExecRequest {
        exec_id: exec_id.into(),
        container_id: container_id.into(),
        argv: r.argv.clone(),
        env: r.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        working_dir: r.working_dir.clone().unwrap_or_default(),
        user: r.user.clone().unwrap_or_default(),
    }
}

/// An exec request from the wire (the environment keeps no particular order).
pub fn exec_from_wire(r: &v1::ExecRequest) -> Result<ExecRequest, Malformed> {
    if r.exec_id.is_empty() {
        return Err(Malformed::new("exec_id", "empty"));
    }
    if !r.working_dir.is_empty() && !r.working_dir.starts_with('/') {
        return Err(Malformed::new(
            "working_dir",
            format!("`{}` is not an absolute path", r.working_dir),
        ));
    }
    let mut req = ExecRequest::new(r.argv.clone())
        .env(sorted(r.env.clone()))
        .working_dir((!r.working_dir.is_empty()).then(|| r.working_dir.clone()));
    req.user = (!r.user.is_empty()).then(|| r.user.clone());
    Ok(req)
}

/// The wire stream of an output chunk.
pub fn stream_to_wire(s: Stream) -> i32 {
    match s {
        Stream::Stdout => v1::OutputStream::Stdout as i32,
        Stream::Stderr => v1::OutputStream::Stderr as i32,
    }
}

/// An output stream from the wire.
pub fn stream_from_wire(s: i32) -> Result<Stream, Malformed> {
    match v1::OutputStream::try_from(s) {
        Ok(v1::OutputStream::Stdout) => Ok(Stream::Stdout),
        Ok(v1::OutputStream::Stderr) => Ok(Stream::Stderr),
        _ => Err(Malformed::new(
            "output.stream",
            format!("{s} is neither STDOUT nor STDERR"),
        )),
    }
}

/// The wire form of an exit status.
pub fn exit_to_wire(e: ExitStatus) -> v1::Exit {
    v1::Exit {
        code: e.code,
        signal: e.signal,
    }
}

/// An exit status from the wire: exactly one of code and signal.
pub fn exit_from_wire(e: &v1::Exit) -> Result<ExitStatus, Malformed> {
    match (e.code, e.signal) {
        (Some(c), None) => Ok(ExitStatus::code(c)),
        (None, Some(s)) if s > 0 => Ok(ExitStatus::signal(s)),
        (None, Some(s)) => Err(Malformed::new(
            "exit.signal",
            format!("{s} is not a signal"),
        )),
        (Some(_), Some(_)) => Err(Malformed::new("exit", "both code and signal are set")),
        (None, None) => Err(Malformed::new("exit", "neither code nor signal is set")),
    }
}

/// The wire stop level.
pub fn stop_to_wire(l: StopLevel) -> i32 {
    match l {
        StopLevel::Run => v1::StopLevel::Unspecified as i32,
        StopLevel::Terminate => v1::StopLevel::Terminate as i32,
        StopLevel::Kill => v1::StopLevel::Kill as i32,
    }
}

/// A stop level from the wire (`Run` is not a request anyone sends).
pub fn stop_from_wire(l: i32) -> Result<StopLevel, Malformed> {
    match v1::StopLevel::try_from(l) {
        Ok(v1::StopLevel::Terminate) => Ok(StopLevel::Terminate),
        Ok(v1::StopLevel::Kill) => Ok(StopLevel::Kill),
        _ => Err(Malformed::new(
            "level",
            format!("{l} is neither TERMINATE nor KILL"),
        )),
    }
}

// -------------------------------------------------------------------------------------
// Health, reap

/// The wire form of a health state.
pub fn health_to_wire(h: &Health) -> v1::HealthResponse {
    let (state, detail) = match h {
        Health::Running => (v1::HealthState::Running, String::new()),
        Health::Starting => (v1::HealthState::Starting, String::new()),
        Health::Healthy => (v1::HealthState::Healthy, String::new()),
        Health::Unhealthy(why) => (v1::HealthState::Unhealthy, why.clone()),
    };
    v1::HealthResponse {
        state: state as i32,
        detail,
    }
}

/// A health state from the wire.
pub fn health_from_wire(h: &v1::HealthResponse) -> Result<Health, Malformed> {
    match v1::HealthState::try_from(h.state) {
        Ok(v1::HealthState::Running) => Ok(Health::Running),
        Ok(v1::HealthState::Starting) => Ok(Health::Starting),
        Ok(v1::HealthState::Healthy) => Ok(Health::Healthy),
        Ok(v1::HealthState::Unhealthy) => Ok(Health::Unhealthy(h.detail.clone())),
        _ => Err(Malformed::new(
            "state",
            format!("{} is not a health state", h.state),
        )),
    }
}

/// A reap report from the wire.
pub fn reap_from_wire(r: v1::ReapResponse) -> ReapReport {
    let mut out = ReapReport::default();
    out.removed = r.removed;
    out.failed = r.failed;
    out
}

// -------------------------------------------------------------------------------------
// Errors

/// The gRPC status a plugin answers for a backend error.
pub fn error_to_status(e: &BackendError) -> Status {
    let msg = e.to_string();
    match e {
        BackendError::InvalidRequest(_) | BackendError::InvalidLabel { .. } => {
            Status::invalid_argument(msg)
        }
        BackendError::Unsupported { .. } => Status::failed_precondition(msg),
        BackendError::Unavailable { .. } => Status::unavailable(msg),
        BackendError::Timeout { .. } => Status::deadline_exceeded(msg),
        _ => Status::internal(msg),
    }
}

/// The backend error gantry reports for a failed call `call` to plugin `plugin`.
pub fn status_to_error(plugin: &str, call: &str, s: &Status) -> BackendError {
    let msg = if s.message().is_empty() {
        format!("{:?}", s.code())
    } else {
        s.message().to_string()
    };
    match s.code() {
        Code::InvalidArgument | Code::NotFound | Code::OutOfRange => {
            BackendError::InvalidRequest(format!("plugin `{plugin}` refused {call}: {msg}"))
        }
        Code::Unimplemented | Code::FailedPrecondition => BackendError::Unsupported {
            backend: plugin.into(),
            what: format!("{call} ({msg})"),
        },
        Code::Unavailable | Code::Cancelled | Code::Aborted | Code::Unknown => {
            BackendError::Unavailable {
                backend: plugin.into(),
                reason: format!("{call}: {msg}"),
            }
        }
        Code::DeadlineExceeded => BackendError::Unavailable {
            backend: plugin.into(),
            reason: format!("{call} did not answer in time ({msg})"),
        },
        _ => BackendError::Other(format!("plugin `{plugin}`: {call}: {msg}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_round_trip() {
        let mut s = ContainerSpec::new(ContainerKind::Service, "db", "postgres:16");
        s.env.insert("A".into(), "1".into());
        s.entrypoint = Some(vec![]);
        s.ports.push(PortMapping {
            container: 5432,
            host: Some(15432),
            protocol: "tcp".into(),
        });
        s.sandbox.pids_limit = Some(-1);
        s.sandbox.network = Some("none".into());
        let mut h = HealthCheck::default();
        h.test = vec!["CMD".into(), "true".into()];
        h.interval = Some(Duration::from_millis(250));
        h.retries = Some(3);
        s.health = Some(h);
        s.credentials = Some(("u".into(), "p".into()));
        s.options = Some("--init".into());
        s.mount_workspace = true;
        let back = spec_from_wire(Some(spec_to_wire(&s))).expect("decodes");
        assert_eq!(back, s);
    }

    #[test]
    fn bad_values_name_their_field() {
        let mut w = spec_to_wire(&ContainerSpec::new(ContainerKind::Job, "job", "img"));
        w.kind = 42;
        assert_eq!(
            spec_from_wire(Some(w.clone())).unwrap_err().field,
            "spec.kind"
        );
        w.kind = v1::ContainerKind::Job as i32;
        w.ports.push(v1::PortMapping {
            container_port: 70000,
            host_port: 0,
            protocol: "tcp".into(),
        });
        assert_eq!(
            spec_from_wire(Some(w)).unwrap_err().field,
            "spec.ports[0].container_port"
        );
        assert!(exit_from_wire(&v1::Exit {
            code: None,
            signal: None
        })
        .is_err());
        assert!(stop_from_wire(0).is_err());
        assert!(endpoint_from_wire(Some(v1::DockerEndpoint {
            address: "http://x".into(),
            ..Default::default()
        }))
        .is_err());
    }

    #[test]
    fn statuses_map_both_ways() {
        let e = BackendError::InvalidRequest("empty argv".into());
        let s = error_to_status(&e);
        assert_eq!(s.code(), Code::InvalidArgument);
        let back = status_to_error("ref", "Exec", &s);
        assert!(matches!(back, BackendError::InvalidRequest(m) if m.contains("empty argv")));
        let gone = status_to_error("ref", "Exec", &Status::unavailable("connection reset"));
        assert!(gone.to_string().contains("`ref` unavailable"), "{gone}");
    }

    /// Random and mutated bytes decoded as every message a peer sends, then converted:
    /// errors are fine, panics are not.
    #[test]
    fn decoding_garbage_never_panics() {
        use prost::Message;
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut spec = spec_to_wire(&ContainerSpec::new(ContainerKind::Job, "job", "img"));
        spec.ports.push(v1::PortMapping {
            container_port: 80,
            host_port: 8080,
            protocol: "tcp".into(),
        });
        let seeds: Vec<Vec<u8>> = vec![
            spec.encode_to_vec(),
            v1::ExecEvent {
                event: Some(v1::exec_event::Event::Exit(v1::Exit {
                    code: Some(1),
                    signal: None,
                })),
            }
            .encode_to_vec(),
            v1::ContainerInfo {
                container_id: "c".into(),
                workspace: "/w".into(),
                temp: "/t".into(),
                ..Default::default()
            }
            .encode_to_vec(),
        ];
        for round in 0..20_000 {
            let mut bytes = seeds[round % seeds.len()].clone();
            if round % 3 == 0 {
                let len = (next() % 64) as usize;
                bytes = (0..len).map(|_| next() as u8).collect();
            } else {
                for _ in 0..(1 + next() % 4) {
                    if bytes.is_empty() {
                        break;
                    }
                    let i = (next() as usize) % bytes.len();
                    bytes[i] = next() as u8;
                }
            }
            if let Ok(s) = v1::ContainerSpec::decode(&bytes[..]) {
                let _ = spec_from_wire(Some(s));
            }
            if let Ok(e) = v1::ExecEvent::decode(&bytes[..]) {
                match e.event {
                    Some(v1::exec_event::Event::Exit(x)) => {
                        let _ = exit_from_wire(&x);
                    }
                    Some(v1::exec_event::Event::Output(o)) => {
                        let _ = stream_from_wire(o.stream);
                    }
                    _ => {}
                }
            }
            if let Ok(i) = v1::ContainerInfo::decode(&bytes[..]) {
                let _ = container_info_from_wire(&i);
            }
            if let Ok(h) = v1::HealthResponse::decode(&bytes[..]) {
                let _ = health_from_wire(&h);
            }
            if let Ok(r) = v1::ExecRequest::decode(&bytes[..]) {
                let _ = exec_from_wire(&r);
            }
            if let Ok(c) = v1::CreateEnvironmentResponse::decode(&bytes[..]) {
                let _ = endpoint_from_wire(c.docker);
            }
        }
    }
}
