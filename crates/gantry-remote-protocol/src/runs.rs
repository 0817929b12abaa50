//! `runs.sync`: run results sent to the remote after a push, linked to the pushed pack.
//!
//! epack sends a path and digest per run (the adapter reads the result file, which is on
//! the same machine), and the pack's file digest (`file_digest`; older epack sent
//! `pack_digest`). gantry sends both digests.

use serde::{Deserialize, Serialize};

use crate::push::Target;
use crate::serde_util::{empty_as_none, null_as_empty};

/// One run's result file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunInfo {
    /// The run's id.
    #[serde(deserialize_with = "null_as_empty")]
    pub run_id: String,
    /// Absolute path of the run's result (JSON) on the caller's machine.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub result_path: String,
    /// `sha256:<hex>` of that file.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub result_digest: String,
}

impl RunInfo {
    /// A run whose result is at `result_path` with digest `result_digest`.
    pub fn new(run_id: String, result_path: String, result_digest: String) -> Self {
        RunInfo {
            run_id,
            result_path,
            result_digest,
        }
    }
}

/// `runs.sync`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct RunsSync {
    /// The remote's name (*gantry addition*; epack does not send it).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub remote: Option<String>,
    /// Where the pack went.
    pub target: Target,
    /// `sha256:<hex>` of the pushed pack file.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub file_digest: Option<String>,
    /// The pushed pack digest (what older epack sent here).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub pack_digest: Option<String>,
    /// The runs.
    pub runs: Vec<RunInfo>,
}

impl RunsSync {
    /// A request for `runs` of the pack with `file_digest` and `pack_digest`.
    pub fn new(
        target: Target,
        file_digest: Option<String>,
        pack_digest: Option<String>,
        runs: Vec<RunInfo>,
    ) -> Self {
        RunsSync {
            remote: None,
            target,
            file_digest,
            pack_digest,
            runs,
        }
    }
}

/// What happened to one synced run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum SyncStatus {
    /// Stored.
    Accepted,
    /// Refused (bad id, unreadable or mismatching result).
    Rejected,
    /// Already there.
    Duplicate,
    /// A status this version does not know.
    #[serde(other)]
    Unknown,
}

/// One run's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunSyncItem {
    /// The run's id.
    #[serde(deserialize_with = "null_as_empty")]
    pub run_id: String,
    /// What happened.
    pub status: SyncStatus,
}

impl RunSyncItem {
    /// An item.
    pub fn new(run_id: String, status: SyncStatus) -> Self {
        RunSyncItem { run_id, status }
    }
}

/// The answer to `runs.sync`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct RunsSynced {
    /// How many were accepted.
    pub accepted: u64,
    /// How many were rejected.
    pub rejected: u64,
    /// Each run's outcome.
    pub items: Vec<RunSyncItem>,
}

impl RunsSynced {
    /// Adds an item and counts it.
    pub fn push(&mut self, item: RunSyncItem) {
        match item.status {
            SyncStatus::Accepted => self.accepted += 1,
            SyncStatus::Rejected => self.rejected += 1,
            _ => {}
        }
        self.items.push(item);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epacks_runs_sync_is_read() {
        let req: RunsSync = serde_json::from_str(
            r#"{"type":"runs.sync","protocol_version":1,"request_id":"r","target":{"workspace":"acme"},
                "file_digest":"sha256:f","runs":[{"run_id":"2024-01-15T12-00-00-000000Z-000001",
                "result_path":"/tmp/result.json","result_digest":"sha256:d"}]}"#,
        )
        .expect("runs.sync");
        assert_eq!(req.remote, None);
        assert_eq!(req.runs[0].result_digest, "sha256:d");
        let res: RunsSynced = serde_json::from_str(
            r#"{"accepted":1,"rejected":0,"items":[{"run_id":"a","status":"accepted"},{"run_id":"b","status":"queued"}]}"#,
        )
        .expect("result");
        assert_eq!(res.items[1].status, SyncStatus::Unknown);
    }
}
