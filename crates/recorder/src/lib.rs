//! vpc-flowlogs-recorder: record VPC Flow Logs on a NAT Gateway only while its traffic spikes.
//!
//! The Lambda binaries under `functions/` are thin: they read their settings and build their
//! clients once ([`cold_start`]), then hand each event to a function of [`steps`]. What the state
//! machine passes in and out is in [`contract`]. Every decision lives in [`recording`] and
//! [`event`] as plain functions over plain types; the AWS calls live behind one small adapter per
//! service ([`store`] DynamoDB, [`flowlogs`] EC2, [`tokens`] Step Functions, [`notify`] SNS,
//! [`insights`] CloudWatch Logs).
//!
//! The binaries run on tokio's current-thread runtime: Lambda hands a function one event at a
//! time, so worker threads would only add start-up time and memory.

pub mod analysis;
pub mod config;
pub mod contract;
pub mod error;
pub mod event;
pub mod flowlogs;
pub mod insights;
pub mod notify;
pub mod recording;
pub mod steps;
pub mod store;
pub mod sweep;
pub mod tokens;

pub use error::{RecorderError, Result};

/// The current time; the steps take it as an argument so tests can fix it.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

/// Everything a function does before it asks for its first event (see
/// [`lambda_env::cold_start`]): a failure reaches the invoker (Step Functions) under our error
/// name, with a message naming the variable, and the process exits with it.
pub async fn cold_start<T>(
    settings: impl FnOnce(fn(&str) -> Option<String>) -> Result<T>,
) -> std::result::Result<(T, lambda_env::SdkConfig), lambda_runtime::Error> {
    Ok(lambda_env::cold_start(settings, RecorderError::error_type).await?)
}

#[cfg(test)]
pub(crate) mod test_fixtures {
    /// A file of the repository, found when the test runs (cargo sets `CARGO_MANIFEST_DIR`), so a
    /// build shared by two checkouts never reads the other one's files.
    pub fn repo_file(path: &str) -> String {
        let crate_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
        format!("{crate_dir}/../../{path}")
    }

    /// A JSON fixture from the repository's `fixtures/` folder.
    pub fn fixture(name: &str) -> serde_json::Value {
        let path = repo_file(&format!("fixtures/{name}"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
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
