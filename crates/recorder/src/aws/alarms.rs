//! The NAT Gateway alarms of a stack that watches all of them (`NatGatewayIDs = all`): one
//! adapter method per CloudWatch call. What an alarm is comes from the alarms macro
//! ([`nat_alarms_macro::resolved_alarm`]); this turns it into PutMetricAlarm's request.

use aws_sdk_cloudwatch::operation::put_metric_alarm::builders::PutMetricAlarmInputBuilder;
use aws_sdk_cloudwatch::types::{AlarmType, ComparisonOperator, Dimension, Metric, MetricDataQuery, MetricStat, Tag};
use aws_sdk_cloudwatch::Client;
use serde_json::{Map, Value};

use crate::error::{RecorderError, Result};

/// DeleteAlarms takes at most 100 names a call (CloudWatch API Reference, "DeleteAlarms").
const DELETE_BATCH: usize = 100;

/// Lists, puts and deletes the stack's NAT Gateway alarms.
#[derive(Debug, Clone)]
pub struct Alarms {
    client: Client,
}

impl Alarms {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    pub fn from_sdk_config(sdk: &lambda_env::SdkConfig) -> Self {
        Self::new(Client::new(sdk))
    }

    /// The names of the metric alarms that start with `prefix`.
    pub async fn names(&self, prefix: &str) -> Result<Vec<String>> {
        let mut pages = self
            .client
            .describe_alarms()
            .alarm_name_prefix(prefix)
            .alarm_types(AlarmType::MetricAlarm)
            .into_paginator()
            .send();
        let mut names = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| RecorderError::from_sdk("CloudWatch DescribeAlarms", e))?;
            names.extend(page.metric_alarms().iter().filter_map(|a| a.alarm_name()).map(str::to_owned));
        }
        Ok(names)
    }

    /// Creates the alarm, or replaces it with these properties (PutMetricAlarm is both). Its tags
    /// apply only when it is created.
    pub async fn put(&self, properties: &Map<String, Value>) -> Result<()> {
        put_request(properties)?
            .send_with(&self.client)
            .await
            .map_err(|e| RecorderError::from_sdk("CloudWatch PutMetricAlarm", e))?;
        Ok(())
    }

    /// Deletes the alarms; one already gone is no error.
    pub async fn delete(&self, names: &[String]) -> Result<()> {
        for batch in names.chunks(DELETE_BATCH) {
            self.client
                .delete_alarms()
                .set_alarm_names(Some(batch.to_vec()))
                .send()
                .await
                .map_err(|e| RecorderError::from_sdk("CloudWatch DeleteAlarms", e))?;
        }
        Ok(())
    }
}

fn unsupported(what: String) -> RecorderError {
    RecorderError::InvalidInput(format!("the alarm definition has {what}, which the sweeper does not put"))
}

fn text<'a>(value: &'a Value, name: &str) -> Result<&'a str> {
    value.as_str().ok_or_else(|| unsupported(format!("{name} = {value}, not a string")))
}

/// A number that CloudFormation would take as a string or a JSON number.
fn number<T: std::str::FromStr>(value: &Value, name: &str) -> Result<T> {
    let raw = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_owned(),
        _ => String::new(),
    };
    raw.parse().map_err(|_| unsupported(format!("{name} = {value}, not a number")))
}

fn objects<'a>(value: &'a Value, name: &str) -> Result<Vec<&'a Map<String, Value>>> {
    let items = value.as_array().ok_or_else(|| unsupported(format!("{name} = {value}, not a list")))?;
    items.iter().map(|item| item.as_object().ok_or_else(|| unsupported(format!("{name} item {item}")))).collect()
}

/// A tag's or a dimension's two strings (`Key` and `Value`, `Name` and `Value`).
fn pair<'a>(object: &'a Map<String, Value>, first: &str, second: &str) -> Result<(&'a str, &'a str)> {
    let field = |key: &str| object.get(key).map_or(Ok(""), |v| text(v, key));
    Ok((field(first)?, field(second)?))
}

/// PutMetricAlarm's request from an `AWS::CloudWatch::Alarm`'s resolved properties (their names
/// are PutMetricAlarm's; CloudFormation User Guide, "AWS::CloudWatch::Alarm"). A property this
/// does not know is refused, naming it, rather than dropped: the alarm would differ from the
/// macro's.
pub fn put_request(properties: &Map<String, Value>) -> Result<PutMetricAlarmInputBuilder> {
    let mut request = PutMetricAlarmInputBuilder::default();
    for (name, value) in properties {
        request = match name.as_str() {
            "AlarmName" => request.alarm_name(text(value, name)?),
            "AlarmDescription" => request.alarm_description(text(value, name)?),
            "EvaluationPeriods" => request.evaluation_periods(number(value, name)?),
            "DatapointsToAlarm" => request.datapoints_to_alarm(number(value, name)?),
            "TreatMissingData" => request.treat_missing_data(text(value, name)?),
            "ComparisonOperator" => request.comparison_operator(ComparisonOperator::from(text(value, name)?)),
            "Threshold" => request.threshold(number(value, name)?),
            "ThresholdMetricId" => request.threshold_metric_id(text(value, name)?),
            "Tags" => objects(value, name)?.into_iter().try_fold(request, |request, tag| {
                let (key, value) = pair(tag, "Key", "Value")?;
                Ok::<_, RecorderError>(request.tags(Tag::builder().key(key).value(value).build()))
            })?,
            "Metrics" => objects(value, name)?
                .into_iter()
                .try_fold(request, |request, query| Ok::<_, RecorderError>(request.metrics(metric_query(query)?)))?,
            other => return Err(unsupported(format!("the property {other}"))),
        };
    }
    Ok(request)
}

fn metric_query(query: &Map<String, Value>) -> Result<MetricDataQuery> {
    let mut built = MetricDataQuery::builder();
    for (name, value) in query {
        built = match name.as_str() {
            "Id" => built.id(text(value, name)?),
            "Label" => built.label(text(value, name)?),
            "Expression" => built.expression(text(value, name)?),
            "ReturnData" => {
                built.return_data(value.as_bool().ok_or_else(|| unsupported(format!("ReturnData = {value}")))?)
            }
            "MetricStat" => built.metric_stat(metric_stat(value)?),
            other => return Err(unsupported(format!("the metric property {other}"))),
        };
    }
    Ok(built.build())
}

fn metric_stat(value: &Value) -> Result<MetricStat> {
    let stat = value.as_object().ok_or_else(|| unsupported(format!("MetricStat = {value}")))?;
    let mut built = MetricStat::builder();
    for (name, value) in stat {
        built = match name.as_str() {
            "Period" => built.period(number(value, name)?),
            "Stat" => built.stat(text(value, name)?),
            "Metric" => {
                let metric = value.as_object().ok_or_else(|| unsupported(format!("Metric = {value}")))?;
                let mut m = Metric::builder();
                for (name, value) in metric {
                    m = match name.as_str() {
                        "Namespace" => m.namespace(text(value, name)?),
                        "MetricName" => m.metric_name(text(value, name)?),
                        "Dimensions" => objects(value, name)?.into_iter().try_fold(m, |m, d| {
                            let (name, value) = pair(d, "Name", "Value")?;
                            Ok::<_, RecorderError>(m.dimensions(Dimension::builder().name(name).value(value).build()))
                        })?,
                        other => return Err(unsupported(format!("the metric property {other}"))),
                    };
                }
                built.metric(m.build())
            }
            other => return Err(unsupported(format!("the MetricStat property {other}"))),
        };
    }
    Ok(built.build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nat_alarms_macro::{resolved_alarm, AlarmMode};
    use serde_json::json;

    fn parameters() -> Map<String, Value> {
        let values = json!({"Threshold": "100000000", "SamplingPeriod": "60", "EvaluationPeriods": "3", "DatapointsToAlarm": "1"});
        values.as_object().unwrap().clone()
    }

    #[test]
    fn the_macros_static_alarm_becomes_a_put_metric_alarm_request_property_for_property() {
        let properties = resolved_alarm("nat-1234abcd", &AlarmMode::Static, &parameters(), "rec").unwrap();
        let request = put_request(&properties).unwrap();
        assert_eq!(request.get_alarm_name().as_deref(), Some("rec.NatGatewaySpike.nat-1234abcd"));
        assert_eq!(request.get_evaluation_periods(), &Some(3));
        assert_eq!(request.get_datapoints_to_alarm(), &Some(1));
        assert_eq!(request.get_threshold(), &Some(1e8));
        assert_eq!(request.get_comparison_operator(), &Some(ComparisonOperator::GreaterThanThreshold));
        assert_eq!(request.get_treat_missing_data().as_deref(), Some("notBreaching"));
        let tags = request.get_tags().clone().unwrap();
        assert_eq!((tags[0].key(), tags[0].value()), (Some("vpc-flowlogs-recorder:stack"), Some("rec")));
        let metrics = request.get_metrics().clone().unwrap();
        assert_eq!(metrics.len(), 3);
        assert_eq!(metrics[0].expression(), Some("bytesFromSource + bytesFromDestination"));
        assert_eq!(metrics[0].return_data(), Some(true));
        let stat = metrics[1].metric_stat().unwrap();
        assert_eq!((stat.period(), stat.stat()), (Some(60), Some("Sum")));
        let metric = stat.metric().unwrap();
        assert_eq!(metric.namespace(), Some("AWS/NATGateway"));
        assert_eq!(metric.dimensions()[0].value(), Some("nat-1234abcd"));
    }

    #[test]
    fn the_anomaly_detection_alarm_compares_with_its_band() {
        let mode = AlarmMode::AnomalyDetection { band_width: 3.0 };
        let request = put_request(&resolved_alarm("nat-1234abcd", &mode, &parameters(), "rec").unwrap()).unwrap();
        assert_eq!(request.get_threshold_metric_id().as_deref(), Some("band"));
        assert_eq!(request.get_threshold(), &None);
        let metrics = request.get_metrics().clone().unwrap();
        assert_eq!(metrics[3].expression(), Some("ANOMALY_DETECTION_BAND(total, 3)"));
    }

    #[test]
    fn a_property_it_does_not_know_is_refused_by_name_not_dropped() {
        let mut properties = resolved_alarm("nat-1234abcd", &AlarmMode::Static, &parameters(), "rec").unwrap();
        properties.insert("AlarmActions".into(), json!(["arn:aws:sns:us-east-1:123456789012:t"]));
        let err = put_request(&properties).unwrap_err().to_string();
        assert!(err.contains("the property AlarmActions"), "{err}");
        properties.remove("AlarmActions");
        properties.insert("EvaluationPeriods".into(), json!("three"));
        let err = put_request(&properties).unwrap_err().to_string();
        assert!(err.contains("EvaluationPeriods = \"three\", not a number"), "{err}");
    }
}
