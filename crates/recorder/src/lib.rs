//! vpc-flowlogs-recorder: record VPC Flow Logs on a NAT Gateway only while its traffic spikes.
//!
//! The Lambda binaries under `functions/` are thin: they read their settings and build their
//! clients once ([`cold_start`]), then hand each event to a function of [`steps`]. The crate's
//! folders are its layers:
//! - [`decide`]: the decisions, plain functions over plain types, no SDK type: the per-NAT
//!   [`protocol`], which alarm events are ours ([`recording`]), the report's [`analysis`], the
//!   NAT Gateway's [`meter`], the [`workloads`] behind its addresses and the email ([`notify`]);
//! - [`aws`]: one small adapter per service: [`store`] DynamoDB, [`flowlogs`] EC2, [`tokens`]
//!   Step Functions, [`insights`] CloudWatch Logs, [`metrics`] and [`alarms`] CloudWatch, [`sns`]
//!   SNS, [`stack`] CloudFormation, [`account`] IAM;
//! - [`run`]: what joins them, one function per step of the state machine ([`steps`]), the
//!   [`sweep`], the alarms of `all` ([`reconcile`]) and the [`uninstall`].
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
    pub mod meter;
    pub mod notify;
    pub mod protocol;
    pub mod recording;
    pub mod workloads;
}

/// One adapter per AWS service: the only code that calls the SDK.
pub mod aws {
    pub mod account;
    pub mod alarms;
    pub mod flowlogs;
    pub mod insights;
    pub mod metrics;
    pub mod sns;
    pub mod stack;
    pub mod store;
    pub mod tokens;
}

/// What joins the decisions and the adapters: the steps of the state machine, the sweep, the
/// uninstall.
pub mod run {
    pub mod reconcile;
    pub mod steps;
    pub mod sweep;
    pub mod uninstall;
}

pub use aws::{account, alarms, flowlogs, insights, metrics, sns, stack, store, tokens};
pub use decide::{analysis, meter, notify, protocol, recording, workloads};
pub use run::{reconcile, steps, sweep, uninstall};

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

    pub const MIB: u64 = 1024 * 1024;

    fn mib(n: u64) -> String {
        (n * MIB).to_string()
    }

    /// The answers to the notifier's queries over one recording on NAT 10.0.0.220, leg by leg
    /// (legs 1-4 as in `analysis`' table):
    ///   A  10.0.1.25 with S3 52.216.1.10:     1 MiB out (legs 1, 2; 40 records each), 700 MiB in
    ///      (legs 3, 4; 400 each)
    ///   B  10.0.1.30 with 203.0.113.5:       50 MiB out (60 each), 2 MiB in (30 each)
    ///   C  10.0.1.41 and 10.0.2.42 with 198.51.100.20: 10 + 5 MiB out (20 + 10 records), 20 + 30
    ///      MiB in (25 + 35); their remote-side legs fall into one group each: 15 MiB (30), 50 (60)
    ///   D  192.0.2.66 to the NAT, REJECT: 6,000 bytes in 100 records
    ///   E  198.51.100.99 to the NAT, accepted, answered by no instance: 3 MiB (10)
    ///   F  10.0.1.5 to 10.0.1.6, through no NAT address: 1,000 bytes (1)
    ///   and 2 SKIPDATA records, 1 NODATA record
    /// Accepted with data: A 1402 + B 104 + C 130 + E 3 MiB + 1,000 bytes, 880 + 180 + 180 + 10 + 1.
    pub fn nat_answers() -> crate::analysis::Answers {
        let totals = |fields: &[(&str, &str)], bytes: String, records: &str| {
            let mut r = row(fields);
            r.extend(row(&[("totalBytes", &bytes), ("records", records)]));
            r
        };
        let accepted_ok = (1402 + 104 + 130 + 3) * MIB + 1000;
        let pair = |direction: &str, src: &str, dst: &str, pkt_src: &str, pkt_dst: &str, service: &str, bytes: u64| {
            let (src_service, dst_service) = if direction == "ingress" { ("-", service) } else { (service, "-") };
            row(&[
                ("flowDirection", direction),
                ("srcAddr", src),
                ("dstAddr", dst),
                ("pktSrcAddr", pkt_src),
                ("pktDstAddr", pkt_dst),
                ("pktSrcAwsService", src_service),
                ("pktDstAwsService", dst_service),
                ("totalBytes", &mib(bytes)),
            ])
        };
        let nat = "10.0.0.220";
        crate::analysis::Answers {
            records: vec![
                {
                    let mut r = totals(&[("action", "ACCEPT"), ("logStatus", "OK")], accepted_ok.to_string(), "1251");
                    r.push(("lastRecordAt".into(), "2024-05-14 10:27:31.000".into()));
                    r
                },
                totals(&[("action", "REJECT"), ("logStatus", "OK")], "6000".into(), "100"),
                row(&[("action", "-"), ("logStatus", "SKIPDATA"), ("records", "2")]),
                row(&[("action", "-"), ("logStatus", "NODATA"), ("records", "1")]),
            ],
            private: vec![
                totals(&[("action", "ACCEPT"), ("flowDirection", "ingress"), ("pktDstAwsService", "S3")], mib(1), "40"),
                totals(&[("action", "ACCEPT"), ("flowDirection", "ingress"), ("pktDstAwsService", "-")], mib(65), "90"),
                totals(
                    &[("action", "ACCEPT"), ("flowDirection", "egress"), ("pktSrcAwsService", "S3")],
                    mib(700),
                    "400",
                ),
                totals(&[("action", "ACCEPT"), ("flowDirection", "egress"), ("pktSrcAwsService", "-")], mib(52), "90"),
            ],
            remote: vec![
                totals(&[("action", "ACCEPT"), ("flowDirection", "egress")], mib(66), "130"),
                totals(&[("action", "ACCEPT"), ("flowDirection", "ingress")], mib(755), "500"),
                totals(&[("action", "REJECT"), ("flowDirection", "ingress")], "6000".into(), "100"),
            ],
            pairs: vec![
                pair("egress", nat, "10.0.1.25", "52.216.1.10", "10.0.1.25", "S3", 700),
                pair("ingress", "10.0.1.30", nat, "10.0.1.30", "203.0.113.5", "-", 50),
                pair("egress", nat, "10.0.2.42", "198.51.100.20", "10.0.2.42", "-", 30),
                pair("egress", nat, "10.0.1.41", "198.51.100.20", "10.0.1.41", "-", 20),
                pair("ingress", "10.0.1.41", nat, "10.0.1.41", "198.51.100.20", "-", 10),
                pair("ingress", "10.0.2.42", nat, "10.0.2.42", "198.51.100.20", "-", 5),
                pair("egress", nat, "10.0.1.30", "203.0.113.5", "10.0.1.30", "-", 2),
                pair("ingress", "10.0.1.25", nat, "10.0.1.25", "52.216.1.10", "S3", 1),
            ],
        }
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
