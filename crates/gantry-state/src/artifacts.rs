//! Artifact metadata: which artifacts each run uploaded (and what files they hold), and
//! the local store's key-to-blob index. Blobs live outside the database; only what names
//! them lives here, so a crash never leaves a name pointing at half a file.

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::error::StateError;
use crate::ledger::{now, Ledger};

/// This component's name in the `migrations` table.
pub(crate) const COMPONENT: &str = "artifacts";

/// Schema versions of the artifact tables.
pub(crate) const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE artifacts (
    run_id TEXT NOT NULL,
    name TEXT NOT NULL,
    job_key TEXT NOT NULL,
    object_key TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    files TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    PRIMARY KEY (run_id, name)
);
CREATE TABLE objects (
    key TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
"#];

/// One file inside an artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactFile {
    /// Path inside the artifact (`/`-separated, relative).
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Lowercase hex sha256.
    pub sha256: String,
}

/// An uploaded artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactRecord {
    /// The run that uploaded it.
    pub run_id: String,
    /// Its name.
    pub name: String,
    /// The job that uploaded it.
    pub job_key: String,
    /// Where the artifact's tar lives in the store.
    pub object_key: String,
    /// sha256 and size of that tar.
    pub sha256: String,
    /// Its size in bytes (all files).
    pub size: u64,
    /// Its files.
    pub files: Vec<ArtifactFile>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339; `None` keeps it until deleted.
    pub expires_at: Option<String>,
}

/// A key in the local store and the blob it names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRecord {
    /// The object's key in the store.
    pub key: String,
    /// Its sha256, hex.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was stored (RFC 3339).
    pub created_at: String,
}

fn artifact_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(ArtifactRecord, String)> {
    Ok((
        ArtifactRecord {
            run_id: r.get(0)?,
            name: r.get(1)?,
            job_key: r.get(2)?,
            object_key: r.get(3)?,
            sha256: r.get(4)?,
            size: r.get::<_, i64>(5)? as u64,
            files: Vec::new(),
            created_at: r.get(7)?,
            expires_at: r.get(8)?,
        },
        r.get(6)?,
    ))
}

const ARTIFACT_COLUMNS: &str =
    "run_id, name, job_key, object_key, sha256, size, files, created_at, expires_at";

impl Ledger {
    /// Records (or replaces, as a re-upload does) an artifact; call only once its bytes
    /// are in the store.
    pub fn record_artifact(&self, a: &ArtifactRecord) -> Result<(), StateError> {
        let files = serde_json::to_string(&a.files).map_err(|e| StateError::Corrupt {
            path: self.path.display().to_string(),
            what: format!("artifact files of `{}`: {e}", a.name),
        })?;
        self.lock()
            .execute(
                &format!(
                    "INSERT OR REPLACE INTO artifacts ({ARTIFACT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                ),
                params![
                    a.run_id,
                    a.name,
                    a.job_key,
                    a.object_key,
                    a.sha256,
                    a.size as i64,
                    files,
                    a.created_at,
                    a.expires_at
                ],
            )
            .map_err(|e| self.db(e))?;
        Ok(())
    }

    fn decode(
        &self,
        (mut a, files): (ArtifactRecord, String),
    ) -> Result<ArtifactRecord, StateError> {
        a.files = serde_json::from_str(&files).map_err(|e| StateError::Corrupt {
            path: self.path.display().to_string(),
            what: format!("files of artifact `{}` of run {}: {e}", a.name, a.run_id),
        })?;
        Ok(a)
    }

    /// The artifacts of `run_id`, by name.
    pub fn artifacts(&self, run_id: &str) -> Result<Vec<ArtifactRecord>, StateError> {
        let rows: Vec<(ArtifactRecord, String)> = {
            let conn = self.lock();
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT {ARTIFACT_COLUMNS} FROM artifacts WHERE run_id = ?1 ORDER BY name"
                ))
                .map_err(|e| self.db(e))?;
            let rows = stmt
                .query_map([run_id], artifact_row)
                .map_err(|e| self.db(e))?
                .collect::<Result<_, _>>()
                .map_err(|e| self.db(e))?;
            rows
        };
        rows.into_iter().map(|r| self.decode(r)).collect()
    }

    /// Artifact `name` of `run_id`.
    pub fn artifact(&self, run_id: &str, name: &str) -> Result<Option<ArtifactRecord>, StateError> {
        let row = self
            .lock()
            .query_row(
                &format!(
                    "SELECT {ARTIFACT_COLUMNS} FROM artifacts WHERE run_id = ?1 AND name = ?2"
                ),
                [run_id, name],
                artifact_row,
            )
            .optional()
            .map_err(|e| self.db(e))?;
        row.map(|r| self.decode(r)).transpose()
    }

    /// Artifacts whose `expires_at` is before `now` (RFC 3339, UTC), oldest first.
    pub fn expired_artifacts(&self, now: &str) -> Result<Vec<ArtifactRecord>, StateError> {
        let rows: Vec<(ArtifactRecord, String)> = {
            let conn = self.lock();
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT {ARTIFACT_COLUMNS} FROM artifacts WHERE expires_at IS NOT NULL AND expires_at < ?1 ORDER BY expires_at"
                ))
                .map_err(|e| self.db(e))?;
            let rows = stmt
                .query_map([now], artifact_row)
                .map_err(|e| self.db(e))?
                .collect::<Result<_, _>>()
                .map_err(|e| self.db(e))?;
            rows
        };
        rows.into_iter().map(|r| self.decode(r)).collect()
    }

    /// Forgets artifact `name` of `run_id` (its object is the store's to delete).
    pub fn delete_artifact(&self, run_id: &str, name: &str) -> Result<(), StateError> {
        self.lock()
            .execute(
                "DELETE FROM artifacts WHERE run_id = ?1 AND name = ?2",
                [run_id, name],
            )
            .map_err(|e| self.db(e))?;
        Ok(())
    }

    /// Points `key` at the blob `sha256` (the local store's index).
    pub fn put_object(
        &self,
        key: &str,
        sha256: &str,
        size: u64,
    ) -> Result<ObjectRecord, StateError> {
        let created_at = now();
        self.lock()
            .execute(
                "INSERT OR REPLACE INTO objects (key, sha256, size, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![key, sha256, size as i64, created_at],
            )
            .map_err(|e| self.db(e))?;
        Ok(ObjectRecord {
            key: key.into(),
            sha256: sha256.into(),
            size,
            created_at,
        })
    }

    /// The blob `key` names.
    pub fn object(&self, key: &str) -> Result<Option<ObjectRecord>, StateError> {
        self.lock()
            .query_row(
                "SELECT key, sha256, size, created_at FROM objects WHERE key = ?1",
                [key],
                |r| {
                    Ok(ObjectRecord {
                        key: r.get(0)?,
                        sha256: r.get(1)?,
                        size: r.get::<_, i64>(2)? as u64,
                        created_at: r.get(3)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.db(e))
    }

    /// Keys starting with `prefix`, sorted.
    pub fn objects(&self, prefix: &str) -> Result<Vec<ObjectRecord>, StateError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare(
                "SELECT key, sha256, size, created_at FROM objects WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key",
            )
            .map_err(|e| self.db(e))?;
        let rows = stmt
            .query_map([prefix], |r| {
                Ok(ObjectRecord {
                    key: r.get(0)?,
                    sha256: r.get(1)?,
                    size: r.get::<_, i64>(2)? as u64,
                    created_at: r.get(3)?,
                })
            })
            .map_err(|e| self.db(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.db(e));
        rows
    }

    /// Removes `key`; returns whether another key still names the same blob.
    pub fn delete_object(&self, key: &str) -> Result<Option<bool>, StateError> {
        let Some(obj) = self.object(key)? else {
            return Ok(None);
        };
        let conn = self.lock();
        conn.execute("DELETE FROM objects WHERE key = ?1", [key])
            .map_err(|e| self.db(e))?;
        let others: i64 = conn
            .query_row(
                "SELECT count(*) FROM objects WHERE sha256 = ?1",
                [&obj.sha256],
                |r| r.get(0),
            )
            .map_err(|e| self.db(e))?;
        Ok(Some(others > 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dir::StateDir;

    fn record(name: &str, expires_at: Option<&str>) -> ArtifactRecord {
        ArtifactRecord {
            run_id: "01RUN".into(),
            name: name.into(),
            job_key: "build".into(),
            object_key: format!("runs/01RUN/artifacts/{name}.tar"),
            sha256: "00".repeat(32),
            size: 10,
            files: vec![ArtifactFile {
                path: "a.txt".into(),
                size: 10,
                sha256: "11".repeat(32),
            }],
            created_at: "2026-01-01T00:00:00Z".into(),
            expires_at: expires_at.map(str::to_string),
        }
    }

    #[test]
    fn artifacts_round_trip_and_expire() {
        let dir = tempfile::tempdir().expect("temp dir");
        let ledger = Ledger::open(&StateDir::at(dir.path())).expect("ledger");
        ledger
            .record_artifact(&record("old", Some("2026-01-02T00:00:00Z")))
            .expect("record");
        ledger
            .record_artifact(&record("new", Some("2099-01-01T00:00:00Z")))
            .expect("record");
        ledger
            .record_artifact(&record("kept", None))
            .expect("record");
        assert_eq!(ledger.artifacts("01RUN").expect("list").len(), 3);
        assert_eq!(
            ledger.artifact("01RUN", "old").expect("get"),
            Some(record("old", Some("2026-01-02T00:00:00Z")))
        );
        let expired = ledger
            .expired_artifacts("2026-11-23T00:00:00Z")
            .expect("expired");
        assert_eq!(
            expired.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
            vec!["old"]
        );
        ledger.delete_artifact("01RUN", "old").expect("delete");
        assert!(ledger.artifact("01RUN", "old").expect("get").is_none());
    }
}
