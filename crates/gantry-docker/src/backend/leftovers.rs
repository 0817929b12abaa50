//! What `reap` would remove, listed without removing it (`gantry gc --dry-run`).

use std::collections::HashMap;

use bollard::query_parameters::{ListContainersOptions, ListNetworksOptions, ListVolumesOptions};
use gantry_backend::{BackendError, LABEL_RUN_ID};

use super::{short, DockerBackend};

impl DockerBackend {
    /// Containers, networks and volumes of this owner whose run is not in `live_runs`.
    pub(crate) async fn list_leftovers(
        &self,
        live_runs: &[String],
    ) -> Result<Vec<String>, BackendError> {
        let dead = |labels: Option<&HashMap<String, String>>| {
            labels
                .and_then(|l| l.get(LABEL_RUN_ID))
                .filter(|run| !live_runs.contains(run))
                .cloned()
        };
        let mut found = Vec::new();
        let containers = self
            .docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(self.owner_filter()),
                ..Default::default()
            }))
            .await
            .map_err(|e| self.err("listing containers", e))?;
        for c in containers {
            if let Some(run) = dead(c.labels.as_ref()) {
                let id = c.id.unwrap_or_default();
                found.push(format!("container {} (run {run})", short(&id)));
            }
        }
        let networks = self
            .docker
            .list_networks(Some(ListNetworksOptions {
                filters: Some(self.owner_filter()),
            }))
            .await
            .map_err(|e| self.err("listing networks", e))?;
        for n in networks {
            if let Some(run) = dead(n.labels.as_ref()) {
                found.push(format!(
                    "network {} (run {run})",
                    n.name.unwrap_or_default()
                ));
            }
        }
        let volumes = self
            .docker
            .list_volumes(Some(ListVolumesOptions {
                filters: Some(self.owner_filter()),
            }))
            .await
            .map_err(|e| self.err("listing volumes", e))?;
        for v in volumes.volumes.unwrap_or_default() {
            if let Some(run) = dead(Some(&v.labels)) {
                found.push(format!("volume {} (run {run})", v.name));
            }
        }
        Ok(found)
    }
}
