//! The NAT Gateway's own meter: its CloudWatch metrics over the spike and over the recording, in
//! one GetMetricData call. The report's headline and cost come from here; the flow records say
//! where the bytes went, and how much of the meter they explain.

use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use aws_sdk_cloudwatch::Client;
use aws_smithy_types::DateTime as SmithyTime;
use chrono::{DateTime, Utc};

use crate::error::{RecorderError, Result};
use crate::meter::{sum, windows, Readings, METRICS, PERIOD_SECS};

/// Reads the NAT Gateway's metrics.
#[derive(Debug, Clone)]
pub struct Meter {
    client: Client,
}

impl Meter {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    pub fn from_sdk_config(sdk: &lambda_env::SdkConfig) -> Self {
        Self::new(Client::new(sdk))
    }

    /// The meter over the spike (from `spike_since`) and the recording, up to `stopped`.
    pub async fn read(
        &self,
        nat_gateway_id: &str,
        spike_since: DateTime<Utc>,
        started: DateTime<Utc>,
        stopped: DateTime<Utc>,
    ) -> Result<Readings> {
        let [from, recorded_from, to] = windows(spike_since, started, stopped);
        let queries = METRICS.iter().enumerate().map(|(i, name)| {
            let metric = Metric::builder()
                .namespace("AWS/NATGateway")
                .metric_name(*name)
                .dimensions(Dimension::builder().name("NatGatewayId").value(nat_gateway_id).build())
                .build();
            let stat = MetricStat::builder().metric(metric).period(PERIOD_SECS as i32).stat("Sum").build();
            MetricDataQuery::builder().id(format!("m{i}")).metric_stat(stat).return_data(true).build()
        });
        let mut pages = self
            .client
            .get_metric_data()
            .set_metric_data_queries(Some(queries.collect()))
            .start_time(SmithyTime::from_secs(from.timestamp()))
            .end_time(SmithyTime::from_secs(to.timestamp()))
            .into_paginator()
            .send();
        let mut series: Vec<(String, Vec<(i64, f64)>)> = METRICS.iter().map(|m| (m.to_string(), Vec::new())).collect();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| RecorderError::from_sdk("CloudWatch GetMetricData", e))?;
            for result in page.metric_data_results() {
                let Some(i) = result.id().and_then(|id| id.strip_prefix('m')).and_then(|i| i.parse::<usize>().ok())
                else {
                    continue;
                };
                let Some((_, points)) = series.get_mut(i) else { continue };
                points.extend(result.timestamps().iter().map(|t| t.secs()).zip(result.values().iter().copied()));
            }
        }
        let (spike, recorded) = sum(&series, from, recorded_from, to);
        let text = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        Ok(Readings { spike_from: text(from), to: text(to), spike, recorded_from: text(recorded_from), recorded })
    }
}
