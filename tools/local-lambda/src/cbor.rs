//! The Smithy RPC v2 CBOR protocol, translated to the AWS JSON 1.0 protocol moto speaks:
//! development only. The Rust SDK calls CloudWatch in CBOR (its model lists `smithy-rpc-v2-cbor`
//! first); moto 5.2.5 parses CloudWatch's JSON protocol (the model's second) but no CBOR. The
//! gateway rewrites such a call as the same operation in JSON, signed again as the same caller,
//! and moto's answer back into CBOR.
//!
//! The two protocols carry the same members (Smithy, "RPC v2 CBOR protocol"): a request goes to
//! `/service/{service}/operation/{operation}`, a JSON request names both in `X-Amz-Target`; a
//! timestamp is tag 1 (epoch seconds) in CBOR and a number of epoch seconds in JSON; an error's
//! `__type` and `message` are the same map in both. JSON says nothing of a member's type, so the
//! answer's timestamps and doubles are recognised by the members of the calls the project makes
//! (GetMetricData's `Timestamps` and `Values`, DescribeAlarms' `MetricAlarm` timestamps and
//! `Threshold`: CloudWatch API Reference, "MetricDataResult" and "MetricAlarm"); a blob in either
//! direction is refused.

use ciborium::Value as Cbor;
use serde_json::{Map, Number, Value as Json};

/// The header that marks a call in this protocol.
pub const PROTOCOL_HEADER: &str = "smithy-protocol";
pub const PROTOCOL: &str = "rpc-v2-cbor";

/// Members of the answers the project reads that the model types as timestamps.
const TIMESTAMPS: [&str; 5] = [
    "Timestamps",
    "Timestamp",
    "AlarmConfigurationUpdatedTimestamp",
    "StateUpdatedTimestamp",
    "StateTransitionedTimestamp",
];
/// ... and as doubles (a JSON `100` is a CBOR double here, not an integer).
const DOUBLES: [&str; 2] = ["Values", "Threshold"];

/// The `X-Amz-Target` of a CBOR call's path: `GraniteServiceVersion20100801.GetMetricData`.
pub fn target(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/service/")?;
    let (service, operation) = rest.split_once("/operation/")?;
    Some(format!("{service}.{operation}"))
}

/// A CBOR request body as the JSON moto reads.
pub fn request(body: &[u8]) -> Result<Vec<u8>, String> {
    if body.is_empty() {
        return Ok(b"{}".to_vec());
    }
    let value: Cbor = ciborium::from_reader(body).map_err(|e| format!("the request is no CBOR: {e}"))?;
    serde_json::to_vec(&to_json(value)?).map_err(|e| e.to_string())
}

fn to_json(value: Cbor) -> Result<Json, String> {
    Ok(match value {
        Cbor::Integer(i) => Json::Number(Number::from(i64::try_from(i).map_err(|e| e.to_string())?)),
        Cbor::Float(f) => Number::from_f64(f).map(Json::Number).ok_or_else(|| format!("{f} is no JSON number"))?,
        Cbor::Text(t) => Json::String(t),
        Cbor::Bool(b) => Json::Bool(b),
        Cbor::Null => Json::Null,
        Cbor::Tag(1, inner) => to_json(*inner)?,
        Cbor::Array(items) => Json::Array(items.into_iter().map(to_json).collect::<Result<_, _>>()?),
        Cbor::Map(pairs) => {
            let mut map = Map::new();
            for (key, value) in pairs {
                let Cbor::Text(key) = key else { return Err(format!("a map key is not text: {key:?}")) };
                map.insert(key, to_json(value)?);
            }
            Json::Object(map)
        }
        other => return Err(format!("the local CBOR translation does not carry {other:?}")),
    })
}

/// moto's JSON answer as the CBOR the SDK reads.
pub fn response(body: &[u8]) -> Result<Vec<u8>, String> {
    let value: Json = if body.is_empty() {
        Json::Object(Map::new())
    } else {
        serde_json::from_slice(body).map_err(|e| format!("moto's answer is no JSON: {e}"))?
    };
    let mut out = Vec::new();
    ciborium::into_writer(&to_cbor(value, None), &mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

fn to_cbor(value: Json, member: Option<&str>) -> Cbor {
    match value {
        Json::Number(n) => {
            let float = n.as_f64().unwrap_or_default();
            match (member, n.as_i64()) {
                (Some(m), _) if TIMESTAMPS.contains(&m) => Cbor::Tag(1, Box::new(Cbor::Float(float))),
                (Some(m), _) if DOUBLES.contains(&m) => Cbor::Float(float),
                (_, Some(i)) => Cbor::Integer(i.into()),
                _ => Cbor::Float(float),
            }
        }
        Json::String(s) => Cbor::Text(s),
        Json::Bool(b) => Cbor::Bool(b),
        Json::Null => Cbor::Null,
        Json::Array(items) => Cbor::Array(items.into_iter().map(|v| to_cbor(v, member)).collect()),
        Json::Object(map) => Cbor::Map(
            map.into_iter()
                .map(|(key, value)| {
                    let value = to_cbor(value, Some(&key));
                    (Cbor::Text(key), value)
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cbor(value: &Cbor) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::into_writer(value, &mut out).unwrap();
        out
    }

    #[test]
    fn a_request_keeps_its_members_and_its_timestamps_become_epoch_seconds() {
        let request_body = Cbor::Map(vec![
            (Cbor::Text("StartTime".into()), Cbor::Tag(1, Box::new(Cbor::Integer(1_715_680_920.into())))),
            (
                Cbor::Text("MetricDataQueries".into()),
                Cbor::Array(vec![Cbor::Map(vec![
                    (Cbor::Text("Id".into()), Cbor::Text("m0".into())),
                    (Cbor::Text("ReturnData".into()), Cbor::Bool(true)),
                ])]),
            ),
        ]);
        let json: Json = serde_json::from_slice(&request(&cbor(&request_body)).unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"StartTime": 1_715_680_920, "MetricDataQueries": [{"Id": "m0", "ReturnData": true}]})
        );
        assert_eq!(request(b"").unwrap(), b"{}");
        assert!(request(&cbor(&Cbor::Bytes(vec![1]))).unwrap_err().contains("does not carry"));
    }

    #[test]
    fn an_answers_timestamps_are_tagged_and_its_values_are_doubles() {
        let answer = br#"{"MetricDataResults": [{"Id": "m0", "Timestamps": [1715680920], "Values": [100], "StatusCode": "Complete"}]}"#;
        let value: Cbor = ciborium::from_reader(response(answer).unwrap().as_slice()).unwrap();
        let results = &value.as_map().unwrap()[0].1.as_array().unwrap()[0];
        let member =
            |name: &str| results.as_map().unwrap().iter().find(|(k, _)| k.as_text() == Some(name)).unwrap().1.clone();
        assert_eq!(member("Timestamps"), Cbor::Array(vec![Cbor::Tag(1, Box::new(Cbor::Float(1_715_680_920.0)))]));
        assert_eq!(member("Values"), Cbor::Array(vec![Cbor::Float(100.0)]));
        assert_eq!(member("StatusCode"), Cbor::Text("Complete".into()));
        assert_eq!(
            target("/service/GraniteServiceVersion20100801/operation/GetMetricData").as_deref(),
            Some("GraniteServiceVersion20100801.GetMetricData")
        );
        assert_eq!(target("/"), None);
    }

    #[test]
    fn an_alarms_timestamps_are_tagged_and_its_threshold_is_a_double() {
        let answer = br#"{"MetricAlarms": [{"AlarmName": "a", "StateUpdatedTimestamp": 1715680920.5, "Threshold": 100, "EvaluationPeriods": 3}]}"#;
        let value: Cbor = ciborium::from_reader(response(answer).unwrap().as_slice()).unwrap();
        let alarm = &value.as_map().unwrap()[0].1.as_array().unwrap()[0];
        let member =
            |name: &str| alarm.as_map().unwrap().iter().find(|(k, _)| k.as_text() == Some(name)).unwrap().1.clone();
        assert_eq!(member("StateUpdatedTimestamp"), Cbor::Tag(1, Box::new(Cbor::Float(1_715_680_920.5))));
        assert_eq!(member("Threshold"), Cbor::Float(100.0));
        assert_eq!(member("EvaluationPeriods"), Cbor::Integer(3.into()));
    }
}
