//! The EventBridge "CloudWatch Alarm State Change" event, and what we read from it.
//!
//! The envelope is aws_lambda_events' `EventBridgeEvent`; the detail is ours, because its
//! `CloudWatchAlarmData` requires `metricStat` on every metric and a metric-math alarm lists an
//! expression entry without one. Unknown fields are ignored: AWS adds fields over time.

use std::collections::BTreeMap;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

use crate::error::{RecorderError, Result};

/// The dimension that names a NAT Gateway in `AWS/NATGateway` metrics.
pub const NAT_GATEWAY_DIMENSION: &str = "NatGatewayId";

/// `nat-` followed by 8 or 17 lowercase hex digits: the macro's own check, so an id the macro
/// takes is one the functions take.
pub use nat_alarms_macro::is_nat_gateway_id;

/// An alarm state change as EventBridge delivers it (the envelope's fields through `Deref`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AlarmStateChange(pub EventBridgeEvent<AlarmDetail>);

impl std::ops::Deref for AlarmStateChange {
    type Target = EventBridgeEvent<AlarmDetail>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlarmDetail {
    pub alarm_name: String,
    pub state: AlarmState,
    #[serde(default)]
    pub previous_state: Option<AlarmState>,
    #[serde(default)]
    pub configuration: AlarmConfiguration,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmState {
    pub value: String,
    pub timestamp: String,
    #[serde(default)]
    pub reason: Option<String>,
    /// A JSON document: for a metric alarm, `evaluatedDatapoints` with their `timestamp`s
    /// (CloudWatch User Guide, "Alarm events and EventBridge").
    #[serde(default, rename = "reasonData")]
    pub reason_data: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlarmConfiguration {
    #[serde(default)]
    pub metrics: Vec<AlarmMetric>,
}

/// One entry of `configuration.metrics[]`: a metric (`metricStat`) or a math expression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlarmMetric {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub metric_stat: Option<MetricStat>,
    #[serde(default)]
    pub expression: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricStat {
    pub metric: Metric,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub dimensions: BTreeMap<String, String>,
}

/// The two alarm states this tool acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmValue {
    Alarm,
    Ok,
    InsufficientData,
}

impl AlarmStateChange {
    /// Parses an event, naming what is wrong when it is not an alarm state change.
    pub fn from_value(value: serde_json::Value) -> Result<Self> {
        serde_json::from_value(value)
            .map_err(|e| RecorderError::InvalidInput(format!("not a CloudWatch Alarm State Change event: {e}")))
    }

    /// The NAT Gateway id from whichever metric carries a `NatGatewayId` dimension, wherever it
    /// stands in `metrics[]` (a metric-math alarm lists the expression first).
    pub fn nat_gateway_id(&self) -> Option<&str> {
        self.detail
            .configuration
            .metrics
            .iter()
            .filter_map(|m| m.metric_stat.as_ref())
            .find_map(|stat| stat.metric.dimensions.get(NAT_GATEWAY_DIMENSION))
            .map(|id| id.trim())
            .filter(|id| !id.is_empty())
    }

    /// The new state of the alarm.
    pub fn state(&self) -> Result<AlarmValue> {
        match self.detail.state.value.as_str() {
            "ALARM" => Ok(AlarmValue::Alarm),
            "OK" => Ok(AlarmValue::Ok),
            "INSUFFICIENT_DATA" => Ok(AlarmValue::InsufficientData),
            other => Err(RecorderError::InvalidInput(format!(
                "alarm state {other:?} is not one of ALARM, OK, INSUFFICIENT_DATA"
            ))),
        }
    }

    /// When the alarm entered its new state, in milliseconds since the epoch. Orders the
    /// episodes of one alarm (docs/DESIGN.md, "Which recording an OK belongs to").
    pub fn state_timestamp_millis(&self) -> Result<i64> {
        parse_alarm_timestamp(&self.detail.state.timestamp).map(|t| t.timestamp_millis())
    }
}

impl AlarmStateChange {
    /// When the datapoints that moved the alarm began: the earliest `evaluatedDatapoints`
    /// timestamp of the reason data, in milliseconds. `None` when the event carries none, or one
    /// later than the state change or more than a day before it (no spike is measured from a
    /// time the event cannot vouch for).
    pub fn evaluated_since_millis(&self) -> Option<i64> {
        let changed = self.state_timestamp_millis().ok()?;
        let data: serde_json::Value = serde_json::from_str(self.detail.state.reason_data.as_deref()?).ok()?;
        data["evaluatedDatapoints"]
            .as_array()?
            .iter()
            .filter_map(|point| parse_alarm_timestamp(point["timestamp"].as_str()?).ok())
            .map(|t| t.timestamp_millis())
            .min()
            .filter(|since| (changed - 86_400_000..=changed).contains(since))
    }
}

/// Parses CloudWatch's `2019-10-02T17:20:48.551+0000`, and RFC 3339 for good measure.
pub fn parse_alarm_timestamp(text: &str) -> Result<DateTime<FixedOffset>> {
    DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z").or_else(|_| DateTime::parse_from_rfc3339(text)).map_err(
        |_| {
            RecorderError::InvalidInput(format!(
                "alarm state timestamp {text:?} is not of the form 2024-01-31T12:00:00.000+0000"
            ))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::fixture;

    #[test]
    fn the_spike_began_at_the_earliest_datapoint_the_alarm_evaluated() {
        let mut value = fixture("alarm.json");
        let event = AlarmStateChange::from_value(value.clone()).unwrap();
        // evaluatedDatapoints: 10:14:00; the state changed at 10:15:00.118
        let since = event.evaluated_since_millis().unwrap();
        assert_eq!(since, parse_alarm_timestamp("2024-05-14T10:14:00.000+0000").unwrap().timestamp_millis());
        // A datapoint after the change, or none at all, vouches for nothing
        let later = r#"{"evaluatedDatapoints":[{"timestamp":"2024-05-14T10:16:00.000+0000"}]}"#;
        value["detail"]["state"]["reasonData"] = later.into();
        assert_eq!(AlarmStateChange::from_value(value.clone()).unwrap().evaluated_since_millis(), None);
        value["detail"]["state"]["reasonData"] = "not json".into();
        assert_eq!(AlarmStateChange::from_value(value).unwrap().evaluated_since_millis(), None);
    }

    #[test]
    fn finds_the_nat_gateway_in_a_single_metric_alarm() {
        let event = AlarmStateChange::from_value(fixture("alarm-single-metric.json")).unwrap();
        assert_eq!(event.nat_gateway_id(), Some("nat-0123456789abcdef0"));
        assert_eq!(event.state().unwrap(), AlarmValue::Alarm);
    }

    #[test]
    fn finds_the_nat_gateway_behind_a_math_expression() {
        // Given a metric-math alarm, whose first entry is the expression with no dimensions
        let event = AlarmStateChange::from_value(fixture("alarm.json")).unwrap();
        assert!(event.detail.configuration.metrics[0].expression.is_some());
        // Then the id still comes from the metrics behind it
        assert_eq!(event.nat_gateway_id(), Some("nat-0123456789abcdef0"));
    }

    #[test]
    fn an_alarm_on_another_metric_has_no_nat_gateway() {
        let event = AlarmStateChange::from_value(fixture("cpu-alarm.json")).unwrap();
        assert_eq!(event.nat_gateway_id(), None);
    }

    #[test]
    fn ok_follows_alarm_in_time() {
        let alarm = AlarmStateChange::from_value(fixture("alarm.json")).unwrap();
        let ok = AlarmStateChange::from_value(fixture("ok.json")).unwrap();
        assert_eq!(ok.state().unwrap(), AlarmValue::Ok);
        assert!(ok.state_timestamp_millis().unwrap() > alarm.state_timestamp_millis().unwrap());
    }

    #[test]
    fn timestamps_in_cloudwatch_and_rfc3339_forms_agree() {
        let cw = parse_alarm_timestamp("2024-03-01T10:00:00.250+0000").unwrap();
        let rfc = parse_alarm_timestamp("2024-03-01T10:00:00.250Z").unwrap();
        assert_eq!(cw, rfc);
    }

    #[test]
    fn a_bad_timestamp_is_named_in_the_error() {
        let err = parse_alarm_timestamp("yesterday").unwrap_err();
        assert!(err.to_string().contains("\"yesterday\""), "{err}");
    }

    #[test]
    fn an_unknown_state_is_rejected_by_name() {
        let mut value = fixture("alarm.json");
        value["detail"]["state"]["value"] = "SOMETIMES".into();
        let err = AlarmStateChange::from_value(value).unwrap().state().unwrap_err();
        assert!(err.to_string().contains("SOMETIMES"), "{err}");
    }

    #[test]
    fn a_non_alarm_event_is_invalid_input() {
        let err = AlarmStateChange::from_value(serde_json::json!({"hello": "world"})).unwrap_err();
        assert_eq!(err.error_type(), "InvalidInput");
    }
}
