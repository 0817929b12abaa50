//! Drives containers on Docker endpoints that other backends hand over (a plugin whose
//! environments are VMs with an engine inside): the contract's [`EndpointDriver`].

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use gantry_backend::{
    Backend, BackendError, DockerEndpoint, EndpointDriver, EnvironmentRequest, ExecutionEnvironment,
};
use tokio::sync::Mutex;

use crate::{DockerBackend, DockerConfig};

/// Connects to each endpoint once and builds environments there.
pub struct DockerDriver {
    owner: String,
    runner_name: String,
    backends: Mutex<HashMap<String, Arc<DockerBackend>>>,
    /// Directories holding TLS material written from PEM strings; removed on drop.
    tls_dirs: std::sync::Mutex<Vec<PathBuf>>,
}

impl DockerDriver {
    /// A driver tagging what it creates with `owner` (see [`DockerConfig::owner`]).
    pub fn new(owner: impl Into<String>, runner_name: impl Into<String>) -> Self {
        DockerDriver {
            owner: owner.into(),
            runner_name: runner_name.into(),
            backends: Mutex::default(),
            tls_dirs: std::sync::Mutex::default(),
        }
    }

    fn write_tls(&self, e: &DockerEndpoint) -> Result<Option<PathBuf>, BackendError> {
        let (Some(ca), Some(cert), Some(key)) = (&e.ca_pem, &e.cert_pem, &e.key_pem) else {
            return Ok(None);
        };
        let dir = std::env::temp_dir().join(format!(
            "gantry-endpoint-tls-{}-{}",
            std::process::id(),
            self.tls_dirs.lock().map(|d| d.len()).unwrap_or(0)
        ));
        let write = |name: &str, text: &str| {
            use std::os::unix::fs::OpenOptionsExt;
            let path = dir.join(name);
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&path)
                .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
                .map_err(|err| BackendError::io(path.display(), err))
        };
        {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .mode(0o700)
                .recursive(true)
                .create(&dir)
                .map_err(|err| BackendError::io(dir.display(), err))?;
        }
        if let Ok(mut dirs) = self.tls_dirs.lock() {
            dirs.push(dir.clone());
        }
        write("ca.pem", ca)?;
        write("cert.pem", cert)?;
        write("key.pem", key)?;
        Ok(Some(dir))
    }
}

impl Drop for DockerDriver {
    fn drop(&mut self) {
        if let Ok(dirs) = self.tls_dirs.lock() {
            for d in dirs.iter() {
                let _ = std::fs::remove_dir_all(d);
            }
        }
    }
}

#[async_trait]
impl EndpointDriver for DockerDriver {
    async fn environment_on(
        &self,
        endpoint: DockerEndpoint,
        req: EnvironmentRequest,
    ) -> Result<Arc<dyn ExecutionEnvironment>, BackendError> {
        let backend = {
            let mut backends = self.backends.lock().await;
            match backends.get(&endpoint.address) {
                Some(b) => b.clone(),
                None => {
                    let tls = self.write_tls(&endpoint)?;
                    let b = DockerBackend::connect(DockerConfig {
                        id: "docker".into(),
                        endpoint: endpoint.address.clone(),
                        tls,
                        owner: self.owner.clone(),
                        runner_name: self.runner_name.clone(),
                    })
                    .await
                    .map_err(|e| BackendError::Unavailable {
                        backend: format!("docker at {}", endpoint.address),
                        reason: e.to_string(),
                    })?;
                    backends.insert(endpoint.address.clone(), b.clone());
                    b
                }
            }
        };
        backend.create_environment(req).await
    }
}
