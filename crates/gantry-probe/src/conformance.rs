//! The conformance run: one container with no network, a read-only root filesystem, a
//! writable workspace volume and an environment variable, each property checked from
//! inside, then everything removed and the removal verified by label.

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::{ContainerCreateBody, HostConfig, VolumeCreateOptions};
use bollard::query_parameters::{
    CreateContainerOptions, ListContainersOptions, ListVolumesOptions, LogsOptions,
    RemoveContainerOptions, RemoveVolumeOptions, WaitContainerOptions,
};
use bollard::Docker;
use futures_util::StreamExt;

use crate::redact::redact;
use crate::report::{Check, Evidence};

/// Label on every object the probe creates.
pub const LABEL: &str = "io.gantry.probe";

/// What the container runs; each line is one check's evidence.
const SCRIPT: &str = r#"echo "net=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\n' ,)"
if touch /gantry-probe 2>/dev/null; then echo rootfs=writable; else echo rootfs=read-only; fi
if echo ok > /__w/probe && [ "$(cat /__w/probe)" = ok ]; then echo workspace=writable; else echo workspace=unwritable; fi
echo "env=$GANTRY_PROBE""#;

/// How long the whole container run may take.
const RUN_LIMIT: Duration = Duration::from_secs(60);

fn excerpt(s: &str) -> String {
    let s = redact(s.trim());
    match s.char_indices().nth(400) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

fn check(name: &str, passed: bool, command: &str, exit_code: Option<i64>, output: &str) -> Check {
    Check {
        name: name.into(),
        passed,
        evidence: Evidence {
            command: command.into(),
            exit_code,
            output: excerpt(output),
        },
    }
}

fn nonce() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:x}{:x}", t, std::process::id())
}

/// Runs the checks against `docker` with `image`.
pub(crate) async fn run(docker: &Docker, image: &str) -> Vec<Check> {
    let id = nonce();
    let name = format!("gantry-probe-{id}");
    let labels = HashMap::from([(LABEL.to_string(), id.clone())]);
    let mut checks = Vec::new();
    if let Err(e) = docker.inspect_image(image).await {
        checks.push(check(
            "image",
            false,
            &format!("inspect image {image}"),
            None,
            &format!("the test image is not present ({e}); scripts/setup-engines.sh imports it"),
        ));
        return checks;
    }
    let started =
        match tokio::time::timeout(RUN_LIMIT, run_container(docker, image, &name, &id, &labels))
            .await
        {
            Ok(r) => r,
            Err(_) => Err(format!(
                "the probe container did not finish within {}s",
                RUN_LIMIT.as_secs()
            )),
        };
    let command = format!(
        "create and start {image}: network none, read-only root filesystem, volume at /__w, env GANTRY_PROBE"
    );
    match started {
        Err(e) => checks.push(check("start", false, &command, None, &e)),
        Ok((code, output)) => {
            checks.push(check("start", code == 0, &command, Some(code), &output));
            let line = |key: &str| {
                output
                    .lines()
                    .find_map(|l| l.strip_prefix(&format!("{key}=")))
                    .unwrap_or("(missing)")
                    .to_string()
            };
            let net = line("net");
            checks.push(check(
                "network-none",
                net == "lo,",
                "list interfaces in /proc/net/dev",
                Some(code),
                &format!("interfaces: {net}"),
            ));
            let rootfs = line("rootfs");
            checks.push(check(
                "read-only-rootfs",
                rootfs == "read-only",
                "touch /gantry-probe",
                Some(code),
                &format!("root filesystem: {rootfs}"),
            ));
            let ws = line("workspace");
            checks.push(check(
                "workspace-writable",
                ws == "writable",
                "write and read /__w/probe",
                Some(code),
                &format!("workspace: {ws}"),
            ));
            let env = line("env");
            checks.push(check(
                "env",
                env == id,
                "echo $GANTRY_PROBE",
                Some(code),
                &format!(
                    "GANTRY_PROBE={}",
                    if env == id { "<expected value>" } else { &env }
                ),
            ));
        }
    }
    checks.push(cleanup(docker, &name, &id).await);
    checks
}

async fn run_container(
    docker: &Docker,
    image: &str,
    name: &str,
    id: &str,
    labels: &HashMap<String, String>,
) -> Result<(i64, String), String> {
    docker
        .create_volume(VolumeCreateOptions {
            name: Some(name.into()),
            labels: Some(labels.clone()),
            ..Default::default()
        })
        .await
        .map_err(|e| format!("creating the workspace volume: {e}"))?;
    let body = ContainerCreateBody {
        image: Some(image.into()),
        cmd: Some(vec!["sh".into(), "-c".into(), SCRIPT.into()]),
        env: Some(vec![format!("GANTRY_PROBE={id}")]),
        labels: Some(labels.clone()),
        host_config: Some(HostConfig {
            network_mode: Some("none".into()),
            readonly_rootfs: Some(true),
            binds: Some(vec![format!("{name}:/__w")]),
            ..Default::default()
        }),
        ..Default::default()
    };
    docker
        .create_container(
            Some(CreateContainerOptions {
                name: Some(name.into()),
                ..Default::default()
            }),
            body,
        )
        .await
        .map_err(|e| format!("creating the container: {e}"))?;
    docker
        .start_container(
            name,
            None::<bollard::query_parameters::StartContainerOptions>,
        )
        .await
        .map_err(|e| format!("starting the container: {e}"))?;
    let mut wait = docker.wait_container(name, None::<WaitContainerOptions>);
    let code = match wait.next().await {
        Some(Ok(r)) => r.status_code,
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
        Some(Err(e)) => return Err(format!("waiting for the container: {e}")),
        None => -1,
    };
    let mut logs = docker.logs(
        name,
        Some(LogsOptions {
            stdout: true,
            stderr: true,
            ..Default::default()
        }),
    );
    let mut output = String::new();
    while let Some(chunk) = logs.next().await {
        match chunk {
            Ok(c) => output.push_str(&String::from_utf8_lossy(&c.into_bytes())),
            Err(e) => return Err(format!("reading the container's output: {e}")),
        }
    }
    Ok((code, output))
}

/// Removes the container and volume, then checks by label that nothing is left.
async fn cleanup(docker: &Docker, name: &str, id: &str) -> Check {
    let _ = docker
        .remove_container(
            name,
            Some(RemoveContainerOptions {
                force: true,
                v: true,
                ..Default::default()
            }),
        )
        .await;
    let _ = docker
        .remove_volume(name, Some(RemoveVolumeOptions { force: true }))
        .await;
    let filter = HashMap::from([("label".to_string(), vec![format!("{LABEL}={id}")])]);
    let containers = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filter.clone()),
            ..Default::default()
        }))
        .await;
    let volumes = docker
        .list_volumes(Some(ListVolumesOptions {
            filters: Some(filter),
        }))
        .await;
    let command = format!("remove, then list containers and volumes labelled {LABEL}={id}");
    match (containers, volumes) {
        (Ok(c), Ok(v)) => {
            let left = c.len() + v.volumes.map(|v| v.len()).unwrap_or(0);
            check(
                "cleanup",
                left == 0,
                &command,
                None,
                &format!("{left} object(s) left"),
            )
        }
        (Err(e), _) | (_, Err(e)) => check(
            "cleanup",
            false,
            &command,
            None,
            &format!("listing failed: {e}"),
        ),
    }
}
