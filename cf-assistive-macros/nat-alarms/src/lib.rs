//! The `VpcFlowLogsRecorder-NatGatewayAlarms` template macro: it adds one CloudWatch alarm per
//! NAT Gateway named in the `NatGatewayIDs` parameter, as docs/DESIGN.md ("The alarms") describes it.
//! For `all` it adds none and tells the functions so: the sweeper keeps one alarm per NAT
//! Gateway of the Region, made from [`resolved_alarm`], the same definition as the macro's.
//!
//! Everything here is a pure function of the macro request.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// The macro's name in the account: specific to this project so it clashes with no other.
pub const MACRO_NAME: &str = "VpcFlowLogsRecorder-NatGatewayAlarms";

/// The parameters the alarms refer to; the template must declare each.
const REFERENCED_PARAMETERS: [&str; 4] = ["Threshold", "SamplingPeriod", "EvaluationPeriods", "DatapointsToAlarm"];

/// A CloudFormation macro invocation.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MacroRequest {
    pub request_id: String,
    pub fragment: Value,
    #[serde(default)]
    pub template_parameter_values: Map<String, Value>,
}

/// The answer CloudFormation expects; `errorMessage` is shown to the user on failure.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MacroResponse {
    pub request_id: String,
    pub status: &'static str,
    pub fragment: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

impl MacroResponse {
    pub fn success(request_id: &str, fragment: Value) -> Self {
        Self { request_id: request_id.to_owned(), status: "success", fragment, error_message: None }
    }

    /// A failure returns the fragment unchanged, with the reason.
    pub fn failure(request_id: &str, fragment: Value, message: impl Into<String>) -> Self {
        Self { request_id: request_id.to_owned(), status: "failure", fragment, error_message: Some(message.into()) }
    }
}

/// Which NAT Gateways to alarm on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    Ids(Vec<String>),
    /// Every NAT Gateway of the Region, those created later too: the sweeper keeps their alarms.
    All,
}

/// How an alarm decides that traffic spikes.
#[derive(Debug, Clone, PartialEq)]
pub enum AlarmMode {
    /// Above the `Threshold` parameter.
    Static,
    /// Above a CloudWatch anomaly detection band of this width (standard deviations).
    AnomalyDetection { band_width: f64 },
}

/// What the macro reads from the template's parameter values, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub selection: Selection,
    pub mode: AlarmMode,
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `nat-` followed by 8 or 17 lowercase hex digits.
pub fn is_nat_gateway_id(id: &str) -> bool {
    id.strip_prefix("nat-").is_some_and(|hex| {
        matches!(hex.len(), 8 | 17) && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Trims, drops empties, de-duplicates (first one wins) and validates the ids.
pub fn parse_selection(value: Option<&Value>) -> Result<Selection, String> {
    let items: Vec<String> = match value {
        Some(Value::Array(items)) => items.iter().filter_map(text).collect(),
        Some(Value::String(list)) => list.split(',').map(str::to_owned).collect(),
        Some(other) => {
            return Err(format!("NatGatewayIDs is {other}, expected a comma-separated list of NAT Gateway ids"))
        }
        None => return Err("the template has no NatGatewayIDs parameter value".into()),
    };
    let mut seen = BTreeSet::new();
    let ids: Vec<String> = items
        .into_iter()
        .map(|id| id.trim().to_owned())
        .filter(|id| !id.is_empty())
        .filter(|id| seen.insert(id.clone()))
        .collect();
    if ids.len() == 1 && ids[0].eq_ignore_ascii_case("all") {
        return Ok(Selection::All);
    }
    if ids.is_empty() {
        return Err("NatGatewayIDs is empty: name at least one NAT Gateway (nat-0123456789abcdef0), or all".into());
    }
    if let Some(bad) = ids.iter().find(|id| !is_nat_gateway_id(id)) {
        return Err(format!(
            "NatGatewayIDs: {bad:?} is not a NAT Gateway id; expected nat- followed by 8 or 17 lowercase hex digits, or all alone"
        ));
    }
    Ok(Selection::Ids(ids))
}

/// NAT Gateway metrics are 1-minute metrics (VPC User Guide, "Monitor NAT gateways using Amazon
/// CloudWatch"): a period must be a positive multiple of 60. PutMetricAlarm's 10, 20 and 30 are
/// for high-resolution metrics; on these the alarm would lapse into INSUFFICIENT_DATA.
pub fn check_sampling_period(value: Option<&Value>) -> Result<u32, String> {
    let raw = value.and_then(text).ok_or("the template has no SamplingPeriod parameter value")?;
    match raw.trim().parse::<u32>() {
        Ok(period) if period > 0 && period % 60 == 0 => Ok(period),
        _ => Err(format!(
            "SamplingPeriod: {raw:?} is not a period NAT Gateway metrics have; expected a positive multiple of 60 \
             (they are 1-minute metrics)"
        )),
    }
}

fn whole_number(name: &str, value: Option<&Value>) -> Result<u32, String> {
    let raw = value.and_then(text).ok_or_else(|| format!("the template has no {name} parameter value"))?;
    raw.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("{name}: {raw:?} is not a whole number of periods from 1 up"))
}

/// The longest an alarm may look back (PutMetricAlarm): a day when the period is under an hour,
/// a week otherwise.
pub fn max_evaluation_seconds(period: u32) -> u64 {
    if period < 3600 {
        86_400
    } else {
        604_800
    }
}

/// The combinations PutMetricAlarm rejects, caught before anything is created.
pub fn check_evaluation(parameters: &Map<String, Value>, period: u32) -> Result<(), String> {
    let evaluation = whole_number("EvaluationPeriods", parameters.get("EvaluationPeriods"))?;
    let datapoints = whole_number("DatapointsToAlarm", parameters.get("DatapointsToAlarm"))?;
    if datapoints > evaluation {
        return Err(format!(
            "DatapointsToAlarm {datapoints} is more than EvaluationPeriods {evaluation}; CloudWatch needs \
             DatapointsToAlarm at most EvaluationPeriods"
        ));
    }
    let span = u64::from(period) * u64::from(evaluation);
    let limit = max_evaluation_seconds(period);
    if span > limit {
        let which = if period < 3600 { "a day, for periods under an hour" } else { "a week" };
        return Err(format!(
            "SamplingPeriod {period} x EvaluationPeriods {evaluation} = {span} s; CloudWatch evaluates at most \
             {limit} s ({which})"
        ));
    }
    Ok(())
}

fn parse_mode(mode: Option<&Value>, band_width: Option<&Value>) -> Result<AlarmMode, String> {
    match mode.and_then(text).as_deref().unwrap_or("Static") {
        "Static" => Ok(AlarmMode::Static),
        "AnomalyDetection" => {
            let raw = band_width.and_then(text).unwrap_or_else(|| "2".into());
            let band_width =
                raw.trim().parse::<f64>().ok().filter(|w| w.is_finite() && *w > 0.0).ok_or_else(|| {
                    format!("AnomalyBandWidth: {raw:?} is not a positive number of standard deviations")
                })?;
            Ok(AlarmMode::AnomalyDetection { band_width })
        }
        other => Err(format!("AlarmMode: {other:?} is not Static or AnomalyDetection")),
    }
}

/// Reads and validates everything the macro needs from the parameter values.
pub fn settings(parameters: &Map<String, Value>) -> Result<Settings, String> {
    let selection = parse_selection(parameters.get("NatGatewayIDs"))?;
    Ok(Settings { selection, mode: alarm_mode(parameters)? })
}

/// Validates the parameters an alarm is made of (period, evaluation, mode) and returns its mode.
pub fn alarm_mode(parameters: &Map<String, Value>) -> Result<AlarmMode, String> {
    let period = check_sampling_period(parameters.get("SamplingPeriod"))?;
    check_evaluation(parameters, period)?;
    parse_mode(parameters.get("AlarmMode"), parameters.get("AnomalyBandWidth"))
}

/// The logical id of a NAT Gateway's alarm: from its id, so reordering the list replaces nothing.
pub fn logical_id(nat_gateway_id: &str) -> String {
    let suffix: String =
        nat_gateway_id.trim_start_matches("nat-").chars().filter(char::is_ascii_alphanumeric).collect();
    format!("SpikeAlarm{suffix}")
}

fn bytes_metric(id: &str, metric_name: &str, nat_gateway_id: &str) -> Value {
    json!({
        "Id": id,
        "ReturnData": false,
        "MetricStat": {
            "Metric": {
                "Namespace": "AWS/NATGateway",
                "MetricName": metric_name,
                "Dimensions": [{"Name": "NatGatewayId", "Value": nat_gateway_id}]
            },
            "Period": {"Ref": "SamplingPeriod"},
            "Stat": "Sum"
        }
    })
}

/// The tag every alarm and flow log of a stack carries, with the stack's name.
pub const STACK_TAG: &str = "vpc-flowlogs-recorder:stack";

/// One NAT Gateway's alarm, as docs/DESIGN.md ("The alarms") describes it.
pub fn alarm(nat_gateway_id: &str, mode: &AlarmMode) -> Value {
    let mut metrics = vec![
        json!({"Id": "total", "Label": "BytesProcessed", "Expression": "bytesFromSource + bytesFromDestination", "ReturnData": true}),
        bytes_metric("bytesFromSource", "BytesInFromSource", nat_gateway_id),
        bytes_metric("bytesFromDestination", "BytesInFromDestination", nat_gateway_id),
    ];
    let mut properties = json!({
        "AlarmName": {"Fn::Sub": format!("${{AWS::StackName}}.NatGatewaySpike.{nat_gateway_id}")},
        "EvaluationPeriods": {"Ref": "EvaluationPeriods"},
        "DatapointsToAlarm": {"Ref": "DatapointsToAlarm"},
        "TreatMissingData": "notBreaching",
        "Tags": [{"Key": STACK_TAG, "Value": {"Ref": "AWS::StackName"}}],
    });
    match mode {
        AlarmMode::Static => {
            properties["AlarmDescription"] = json!({"Fn::Sub": format!(
                "NAT Gateway {nat_gateway_id} processed more than ${{Threshold}} bytes per ${{SamplingPeriod}} s (vpc-flowlogs-recorder)"
            )});
            properties["ComparisonOperator"] = json!("GreaterThanThreshold");
            properties["Threshold"] = json!({"Ref": "Threshold"});
        }
        AlarmMode::AnomalyDetection { band_width } => {
            metrics.push(json!({
                "Id": "band",
                "Label": "Expected range",
                "Expression": format!("ANOMALY_DETECTION_BAND(total, {band_width})"),
                "ReturnData": true
            }));
            properties["AlarmDescription"] = json!(format!(
                "NAT Gateway {nat_gateway_id} processed more bytes than its anomaly detection band ({band_width} standard deviations) expects (vpc-flowlogs-recorder)"
            ));
            properties["ComparisonOperator"] = json!("GreaterThanUpperThreshold");
            properties["ThresholdMetricId"] = json!("band");
        }
    }
    properties["Metrics"] = Value::Array(metrics);
    json!({"Type": "AWS::CloudWatch::Alarm", "Properties": properties})
}

/// One NAT Gateway's alarm as PutMetricAlarm takes it: [`alarm`]'s properties, with every `Ref`
/// and `Fn::Sub` replaced by the stack's name or the parameter's value (as CloudFormation would).
/// A reference to anything else is refused, naming it.
pub fn resolved_alarm(
    nat_gateway_id: &str,
    mode: &AlarmMode,
    parameters: &Map<String, Value>,
    stack_name: &str,
) -> Result<Map<String, Value>, String> {
    let value_of = |name: &str| match name {
        "AWS::StackName" => Ok(stack_name.to_owned()),
        _ => {
            parameters.get(name).and_then(text).ok_or_else(|| format!("the alarm refers to {name}, which has no value"))
        }
    };
    fn resolve(value: &Value, value_of: &dyn Fn(&str) -> Result<String, String>) -> Result<Value, String> {
        match value {
            Value::Array(items) => {
                items.iter().map(|v| resolve(v, value_of)).collect::<Result<_, _>>().map(Value::Array)
            }
            Value::Object(map) if map.keys().any(|k| k == "Ref" || k.starts_with("Fn::")) => {
                match (map.len(), map.get("Ref"), map.get("Fn::Sub")) {
                    (1, Some(Value::String(name)), _) => value_of(name).map(Value::String),
                    (1, _, Some(Value::String(template))) => {
                        let mut out = String::new();
                        let mut rest = template.as_str();
                        while let Some(start) = rest.find("${") {
                            let end = rest[start..].find('}').ok_or_else(|| format!("unclosed ${{ in {template:?}"))?;
                            out.push_str(&rest[..start]);
                            out.push_str(&value_of(&rest[start + 2..start + end])?);
                            rest = &rest[start + end + 1..];
                        }
                        out.push_str(rest);
                        Ok(Value::String(out))
                    }
                    _ => Err(format!("cannot resolve {value} outside CloudFormation")),
                }
            }
            Value::Object(map) => map
                .iter()
                .map(|(k, v)| Ok((k.clone(), resolve(v, value_of)?)))
                .collect::<Result<_, _>>()
                .map(Value::Object),
            other => Ok(other.clone()),
        }
    }
    match resolve(&alarm(nat_gateway_id, mode)["Properties"], &value_of)? {
        Value::Object(properties) => Ok(properties),
        _ => unreachable!("alarm() makes an object of properties"),
    }
}

/// The environment variable of the template's functions that carries the watched NAT Gateways:
/// the recorder refuses events about any other. `all` (see [`Selection::All`]) stays `all`.
pub const WATCHED_VARIABLE: &str = "NAT_GATEWAY_IDS";

/// The main template's custom resource that keeps (and, on uninstall, removes) the sweeper's alarms.
const CLEANUP: &str = "UninstallCleanup";

/// What [`WATCHED_VARIABLE`] says when the stack watches every NAT Gateway of the Region.
pub const ALL: &str = "all";

/// Writes the watched NAT Gateways into every function that declares [`WATCHED_VARIABLE`].
fn hand_over(resources: &mut Map<String, Value>, watched: &str) {
    for resource in resources.values_mut() {
        if let Some(slot) = resource.pointer_mut(&format!("/Properties/Environment/Variables/{WATCHED_VARIABLE}")) {
            *slot = Value::String(watched.to_owned());
        }
    }
}

fn resources_of(fragment: &mut Value) -> Result<&mut Map<String, Value>, String> {
    fragment
        .get_mut("Resources")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| "the template has no Resources section to add the alarms to".to_owned())
}

/// Adds one alarm per NAT Gateway to the template fragment, and hands the list, sorted (reordering
/// it updates nothing), to the functions.
pub fn add_alarms(fragment: &Value, nat_gateway_ids: &[String], mode: &AlarmMode) -> Result<Value, String> {
    let mut fragment = fragment.clone();
    let declared = fragment.get("Parameters").and_then(Value::as_object).cloned().unwrap_or_default();
    if let Some(missing) = REFERENCED_PARAMETERS.iter().find(|p| !declared.contains_key(**p)) {
        return Err(format!("the template declares no {missing} parameter, which the alarms refer to"));
    }
    let resources = resources_of(&mut fragment)?;
    let mut sorted = nat_gateway_ids.to_vec();
    sorted.sort();
    hand_over(resources, &sorted.join(","));
    // After the cleanup's Create or Update: one from all to a list deletes the alarms the
    // sweeper kept, which these replace under the same names.
    let after_cleanup = resources.contains_key(CLEANUP);
    for id in nat_gateway_ids {
        let logical = logical_id(id);
        if resources.contains_key(&logical) {
            return Err(format!("the template already has a resource {logical}; the alarm of {id} would replace it"));
        }
        let mut resource = alarm(id, mode);
        if after_cleanup {
            resource["DependsOn"] = json!(CLEANUP);
        }
        resources.insert(logical, resource);
    }
    Ok(fragment)
}

/// For `all`: no alarm resource (the sweeper keeps them), and `all` handed to the functions.
pub fn watch_all(fragment: &Value) -> Result<Value, String> {
    let mut fragment = fragment.clone();
    hand_over(resources_of(&mut fragment)?, ALL);
    Ok(fragment)
}

/// The whole macro.
pub fn handle(request: MacroRequest) -> MacroResponse {
    let expanded = settings(&request.template_parameter_values).and_then(|settings| match settings.selection {
        Selection::Ids(ids) => add_alarms(&request.fragment, &ids, &settings.mode),
        Selection::All => watch_all(&request.fragment),
    });
    match expanded {
        Ok(fragment) => MacroResponse::success(&request.request_id, fragment),
        Err(message) => MacroResponse::failure(&request.request_id, request.fragment, message),
    }
}
