//! CloudWatch Logs Insights: start a query over a window, poll it to its end, bounded.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_cloudwatchlogs::types::QueryStatus;
use aws_sdk_cloudwatchlogs::Client;

use crate::analysis::{field, insights_instant, number, scoped, Row};
use crate::error::{RecorderError, Result};
use crate::notify::StreamCount;

/// Runs Logs Insights queries for the report.
#[derive(Debug, Clone)]
pub struct Insights {
    client: Client,
    poll_interval: Duration,
    max_polls: u32,
    /// No poll starts after this: the invocation's deadline, less the time its last steps need.
    deadline: Option<Instant>,
}

impl Insights {
    /// `poll_interval * max_polls` bounds how long one query may take.
    pub fn new(client: Client, poll_interval: Duration, max_polls: u32) -> Self {
        Self { client, poll_interval, max_polls, deadline: None }
    }

    /// The same, polling no later than `deadline` (a query still running then is stopped).
    pub fn until(&self, deadline: Instant) -> Self {
        Self { deadline: Some(deadline), ..self.clone() }
    }

    pub fn from_sdk_config(sdk: &lambda_env::SdkConfig, poll_interval: Duration, max_polls: u32) -> Self {
        Self::new(Client::new(sdk), poll_interval, max_polls)
    }

    /// How many records each stream holds stamped from `start_secs` to `end_secs` (both
    /// included), and the newest one's time: one small Logs Insights query grouped by stream
    /// (Logs Insights reads the Infrequent Access class too: CloudWatch Logs User Guide, "Logs
    /// Insights QL commands supported in log classes").
    pub async fn census(
        &self,
        log_group: &str,
        streams: &[String],
        start_secs: i64,
        end_secs: i64,
    ) -> Result<BTreeMap<String, StreamCount>> {
        let query = scoped("stats count(*) as records, max(@timestamp) as latest by @logStream", streams);
        let rows = self.query(log_group, &query, start_secs, end_secs.max(start_secs)).await?;
        // A row without a stream or a readable count says nothing about any stream
        Ok(rows
            .iter()
            .filter_map(|row| {
                let stream = field(row, "@logStream")?.to_owned();
                field(row, "records")?;
                let records = number(row, "records").ok()?;
                let latest = field(row, "latest").and_then(insights_instant);
                Some((stream, StreamCount { records, latest }))
            })
            .collect())
    }

    /// Runs `query` on the log group over `[start_secs, end_secs]` and returns its rows.
    pub async fn query(&self, log_group: &str, query: &str, start_secs: i64, end_secs: i64) -> Result<Vec<Row>> {
        let started = self
            .client
            .start_query()
            .log_group_name(log_group)
            .query_string(query)
            .start_time(start_secs)
            .end_time(end_secs)
            .send()
            .await
            .map_err(|e| RecorderError::from_sdk("Logs Insights StartQuery", e))?;
        let id = started.query_id().ok_or_else(|| RecorderError::Aws {
            operation: "Logs Insights StartQuery",
            message: "the answer has no query id".into(),
        })?;
        for _ in 0..self.max_polls {
            let out = match self.client.get_query_results().query_id(id).send().await {
                Ok(out) => out,
                Err(e) => {
                    // Never leave a query running (and billed) behind a failure.
                    let _ = self.client.stop_query().query_id(id).send().await;
                    return Err(RecorderError::from_sdk("Logs Insights GetQueryResults", e));
                }
            };
            match out.status() {
                Some(QueryStatus::Complete) => {
                    return Ok(out
                        .results()
                        .iter()
                        .map(|row| {
                            row.iter()
                                .filter_map(|f| Some((f.field()?.to_owned(), f.value().unwrap_or_default().to_owned())))
                                .filter(|(field, _)| field != "@ptr")
                                .collect()
                        })
                        .collect());
                }
                Some(QueryStatus::Scheduled | QueryStatus::Running) | None => {
                    if self.deadline.is_some_and(|d| Instant::now() + self.poll_interval > d) {
                        let _ = self.client.stop_query().query_id(id).send().await;
                        return Err(RecorderError::Aws {
                            operation: "Logs Insights GetQueryResults",
                            message: format!(
                                "query {id} was still running when the function had to answer; it was stopped"
                            ),
                        });
                    }
                    tokio::time::sleep(self.poll_interval).await
                }
                Some(other) => {
                    return Err(RecorderError::Aws {
                        operation: "Logs Insights GetQueryResults",
                        message: format!("query {id} ended {}", other.as_str()),
                    })
                }
            }
        }
        let _ = self.client.stop_query().query_id(id).send().await;
        Err(RecorderError::Aws {
            operation: "Logs Insights GetQueryResults",
            message: format!(
                "query {id} was still running after {} s; it was stopped",
                (self.poll_interval * self.max_polls).as_secs()
            ),
        })
    }
}
