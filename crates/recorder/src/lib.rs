//! vpc-flowlogs-recorder: record VPC Flow Logs on a NAT Gateway only while its traffic spikes.
//!
//! The Lambda binaries under `functions/` are thin: they read their settings and build their
//! clients once ([`cold_start`]), then hand each event to a function of [`steps`]. The crate's
//! folders are its layers:
//! - [`decide`]: the decisions, plain functions over plain types, no SDK type: the per-NAT
//!   [`protocol`], which alarm events are ours ([`recording`]), the report's [`analysis`] and its
//!   email ([`notify`]);
//! - [`aws`]: one small adapter per service: [`store`] DynamoDB, [`flowlogs`] EC2, [`tokens`]
//!   Step Functions, [`insights`] CloudWatch Logs, [`sns`] SNS;
//! - [`run`]: what joins them, one function per step of the state machine ([`steps`]), the
//!   [`sweep`] and the [`uninstall`].
//!
//! Around them: what the state machine passes in and out ([`contract`]), the alarm event
//! ([`event`]), the settings ([`config`]) and the one error type ([`error`]). Each module is also
//! reachable at the crate's root (`recorder::store`, say), as the binaries and tests name them.
//!
//! The binaries run on tokio's current-thread runtime: Lambda hands a function one event at a
//! time, so worker threads would only add start-up time and memory.

pub mod config;
pub mod contract;
pub mod error;
pub mod event;

/// The decisions: plain functions over plain types, no SDK type comes in here.
pub mod decide {
    pub mod analysis;
    pub mod notify;
    pub mod protocol;
    pub mod recording;
}

/// One adapter per AWS service: the only code that calls the SDK.
pub mod aws {
    pub mod flowlogs;
    pub mod insights;
    pub mod sns;
    pub mod store;
    pub mod tokens;
}

/// What joins the decisions and the adapters: the steps of the state machine, the sweep, the
/// uninstall.
pub mod run {
    pub mod steps;
    pub mod sweep;
    pub mod uninstall;
}

pub use aws::{flowlogs, insights, sns, store, tokens};
pub use decide::{analysis, notify, protocol, recording};
pub use run::{steps, sweep, uninstall};

pub use error::{RecorderError, Result};

/// The current time; the steps take it as an argument so tests can fix it.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

/// The instant by which an invocation whose deadline is `deadline_ms` (milliseconds since the
/// epoch, as the Runtime API's `Lambda-Runtime-Deadline-Ms` gives it) must stop waiting to keep
/// `margin` for its last steps; now, when that time has passed.
pub fn answer_by(deadline_ms: u64, margin: std::time::Duration) -> std::time::Instant {
    let now_ms = u64::try_from(now().timestamp_millis()).unwrap_or_default();
    let left = std::time::Duration::from_millis(deadline_ms.saturating_sub(now_ms));
    std::time::Instant::now() + left.saturating_sub(margin)
}

/// Everything a function does before it asks for its first event (see
/// [`lambda_env::cold_start`]): a failure reaches the invoker (Step Functions) under our error
/// name, with a message naming the variable, and the process exits with it.
pub async fn cold_start<T>(
    settings: impl FnOnce(fn(&str) -> Option<String>) -> Result<T>,
) -> std::result::Result<(T, lambda_env::SdkConfig), lambda_runtime::Error> {
    Ok(lambda_env::cold_start(settings, RecorderError::error_type).await?)
}

/// The repository's fixtures, for this crate's tests and (feature `fixtures`) the harness's: one
/// loader for all of them.
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures {
    use std::path::PathBuf;

    /// The repository's root: the workspace (the folder with `Cargo.lock`) around the package
    /// cargo runs, found when the test or tool runs (cargo sets `CARGO_MANIFEST_DIR`), so a build
    /// shared by two checkouts never reads the other one's files.
    pub fn repo_root() -> PathBuf {
        let package = std::env::var_os("CARGO_MANIFEST_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
        package
            .ancestors()
            .find(|dir| dir.join("Cargo.lock").exists())
            .map(PathBuf::from)
            .unwrap_or_else(|| panic!("no Cargo.lock above {}: not run from the repository", package.display()))
    }

    /// A file of the repository.
    pub fn repo_file(path: &str) -> PathBuf {
        repo_root().join(path)
    }

    /// A JSON fixture from the repository's `fixtures/` folder.
    pub fn fixture(name: &str) -> serde_json::Value {
        let path = repo_file(&format!("fixtures/{name}"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
    }

    /// One result row, from its fields and values.
    pub fn row(fields: &[(&str, &str)]) -> crate::analysis::Row {
        fields.iter().map(|(field, value)| (field.to_string(), value.to_string())).collect()
    }

    /// The rows of a fixture shaped like GetQueryResults' `results`.
    pub fn query_rows(name: &str) -> Vec<crate::analysis::Row> {
        fixture(name)["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| {
                row.as_array()
                    .unwrap()
                    .iter()
                    .map(|f| (f["field"].as_str().unwrap().to_owned(), f["value"].as_str().unwrap().to_owned()))
                    .collect()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    #[test]
    fn an_invocation_stops_waiting_its_margin_before_its_deadline() {
        let now_ms = super::now().timestamp_millis() as u64;
        let by = super::answer_by(now_ms + 60_000, Duration::from_secs(25));
        let left = by.saturating_duration_since(Instant::now());
        assert!(left > Duration::from_secs(33) && left <= Duration::from_secs(35), "{left:?}");
        // A deadline closer than the margin, or past: stop now
        assert!(super::answer_by(now_ms + 10_000, Duration::from_secs(25)) <= Instant::now());
        assert!(super::answer_by(now_ms - 10_000, Duration::from_secs(25)) <= Instant::now());
    }
}
