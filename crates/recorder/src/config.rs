//! Settings read from environment variables once, at cold start.
//!
//! Every reader takes a lookup function rather than touching the process environment, so the
//! rules are tested with plain maps; the binaries pass [`process_env`].

use crate::error::{RecorderError, Result};
use crate::event::is_nat_gateway_id;
use crate::flowlogs::{executions_of, Ownership};
use crate::recording::{NatGateways, Watched};

pub use lambda_env::process_env;

fn required(env: &impl Fn(&str) -> Option<String>, name: &'static str) -> Result<String> {
    Ok(lambda_env::required(env, name)?)
}

fn flag(env: &impl Fn(&str) -> Option<String>, name: &'static str) -> Result<bool> {
    match required(env, name)?.as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(RecorderError::Config { name, problem: format!("{other:?} is not true or false") }),
    }
}

fn whole_number(env: &impl Fn(&str) -> Option<String>, name: &'static str) -> Result<u32> {
    let text = required(env, name)?;
    text.parse().map_err(|_| RecorderError::Config {
        name,
        problem: format!("{text:?} is not a whole number from 0 to {}", u32::MAX),
    })
}

/// `ALARM_NAME_PREFIX` and `NAT_GATEWAY_IDS`: the list the alarms macro wrote at deploy time, or
/// `all`.
fn watched(env: &impl Fn(&str) -> Option<String>) -> Result<Watched> {
    let list = required(env, "NAT_GATEWAY_IDS")?;
    let alarm_name_prefix = required(env, "ALARM_NAME_PREFIX")?;
    if list.trim() == nat_alarms_macro::ALL {
        return Ok(Watched { alarm_name_prefix, nat_gateways: NatGateways::All });
    }
    let nat_gateway_ids: Vec<String> = list.split(',').map(|id| id.trim().to_owned()).collect();
    if let Some(bad) = nat_gateway_ids.iter().find(|id| !is_nat_gateway_id(id)) {
        return Err(RecorderError::Config {
            name: "NAT_GATEWAY_IDS",
            problem: format!(
                "{bad:?} is not a NAT Gateway id (nat- and 8 or 17 hex digits) or all; is the alarms macro deployed?"
            ),
        });
    }
    Ok(Watched { alarm_name_prefix, nat_gateways: NatGateways::Listed(nat_gateway_ids) })
}

/// What the sweeper needs to keep one alarm per NAT Gateway when the stack watches them all.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmConfig {
    /// `<stack>.NatGatewaySpike.`: every alarm named so is the stack's, and no other is.
    pub name_prefix: String,
    pub stack_name: String,
    /// The template's alarm parameters by their template names (`Threshold`, `SamplingPeriod`,
    /// `EvaluationPeriods`, `DatapointsToAlarm`, `AlarmMode`, `AnomalyBandWidth`), as the macro
    /// reads them.
    pub parameters: serde_json::Map<String, serde_json::Value>,
    pub mode: nat_alarms_macro::AlarmMode,
}

/// The variables that carry the alarm parameters, and the template parameter each one is.
const ALARM_PARAMETERS: [(&str, &str); 6] = [
    ("THRESHOLD", "Threshold"),
    ("SAMPLING_PERIOD", "SamplingPeriod"),
    ("EVALUATION_PERIODS", "EvaluationPeriods"),
    ("DATAPOINTS_TO_ALARM", "DatapointsToAlarm"),
    ("ALARM_MODE", "AlarmMode"),
    ("ANOMALY_BAND_WIDTH", "AnomalyBandWidth"),
];

/// `Some` when `NAT_GATEWAY_IDS` is `all`: the alarm parameters, checked as the macro checks them.
fn alarm_config(
    env: &impl Fn(&str) -> Option<String>,
    watched: &Watched,
    stack_name: &str,
) -> Result<Option<AlarmConfig>> {
    if watched.nat_gateways != NatGateways::All {
        return Ok(None);
    }
    let mut parameters = serde_json::Map::new();
    for (variable, parameter) in ALARM_PARAMETERS {
        parameters.insert(parameter.to_owned(), required(env, variable)?.into());
    }
    let mode = nat_alarms_macro::alarm_mode(&parameters)
        .map_err(|problem| RecorderError::Config { name: "THRESHOLD and the other alarm parameters", problem })?;
    Ok(Some(AlarmConfig {
        name_prefix: watched.alarm_name_prefix.clone(),
        stack_name: stack_name.to_owned(),
        parameters,
        mode,
    }))
}

/// The DynamoDB table that holds one item per NAT Gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableConfig {
    pub table_name: String,
}

impl TableConfig {
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Self> {
        Ok(Self { table_name: required(&env, "TABLE_NAME")? })
    }
}

/// What StartRecording needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartConfig {
    pub table_name: String,
    /// The alarms and NAT Gateways that are this stack's.
    pub watched: Watched,
    pub stack_name: String,
    pub log_group_name: String,
    /// The role VPC Flow Logs assumes to write into the log group.
    pub delivery_role_arn: String,
    /// How long a recording may last before it stops on its own.
    pub recording_time_seconds: u32,
    /// Recordings allowed per NAT Gateway; 0 means no limit.
    pub max_recordings: u32,
    /// The longest the report waits after the stop for records to reach the log group; 0 sends
    /// it at once.
    pub report_delay_seconds: u32,
    /// An OK that comes sooner is kept, and ends the recording once this much has been recorded.
    pub min_recording_seconds: u32,
    /// Whether an alarm skipped because NumOfRecordings was reached is emailed.
    pub notify_limit_reached: bool,
}

impl StartConfig {
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let recording_time_seconds = whole_number(&env, "RECORDING_TIME_SECONDS")?;
        if recording_time_seconds == 0 {
            return Err(RecorderError::Config {
                name: "RECORDING_TIME_SECONDS",
                problem: "must be at least 1 second".into(),
            });
        }
        Ok(Self {
            table_name: required(&env, "TABLE_NAME")?,
            watched: watched(&env)?,
            stack_name: required(&env, "STACK_NAME")?,
            log_group_name: required(&env, "LOG_GROUP_NAME")?,
            delivery_role_arn: required(&env, "DELIVERY_ROLE_ARN")?,
            recording_time_seconds,
            max_recordings: whole_number(&env, "NUM_OF_RECORDINGS")?,
            report_delay_seconds: whole_number(&env, "REPORT_DELAY_SECONDS")?,
            min_recording_seconds: whole_number(&env, "MIN_RECORDING_SECONDS")?,
            notify_limit_reached: flag(&env, "NOTIFY_WHEN_LIMIT_REACHED")?,
        })
    }
}

impl StartConfig {
    /// What makes a flow log this stack's.
    pub fn ownership(&self) -> Ownership {
        Ownership { log_group_name: self.log_group_name.clone(), delivery_role_arn: self.delivery_role_arn.clone() }
    }
}

/// `LOG_GROUP_NAME` and `DELIVERY_ROLE_ARN`: what makes a flow log this stack's.
fn ownership(env: &impl Fn(&str) -> Option<String>) -> Result<Ownership> {
    Ok(Ownership {
        log_group_name: required(env, "LOG_GROUP_NAME")?,
        delivery_role_arn: required(env, "DELIVERY_ROLE_ARN")?,
    })
}

/// What StopRecording needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopConfig {
    pub table_name: String,
    pub ownership: Ownership,
}

impl StopConfig {
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Self> {
        Ok(Self { table_name: required(&env, "TABLE_NAME")?, ownership: ownership(&env)? })
    }
}

/// What the OK resolver needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolverConfig {
    pub table_name: String,
    pub watched: Watched,
}

impl ResolverConfig {
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Self> {
        Ok(Self { table_name: required(&env, "TABLE_NAME")?, watched: watched(&env)? })
    }
}

/// What the sweeper needs.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepConfig {
    pub table_name: String,
    pub stack_name: String,
    pub ownership: Ownership,
    /// The prefix of this stack's executions (`...:execution:<state machine>:`).
    pub executions: String,
    /// The stack's state machine, whose running executions an uninstall stops.
    pub state_machine_arn: String,
    /// A flow log older than RecordingTime plus this grace is deleted whatever its state says.
    pub max_age: std::time::Duration,
    /// DescribeExecution is eventually consistent: just after StartExecution it may answer that
    /// the execution does not exist. A flow log or slot younger than this is not taken for ended;
    /// the next sweep decides (`SWEEP_MIN_AGE_SECONDS`).
    pub min_age: std::time::Duration,
    /// The stack's id (`STACK_ID`, its ARN): the uninstall cleanup acts only on a request that
    /// names it.
    pub stack_id: String,
    /// Where the SDK sends every call when `AWS_ENDPOINT_URL` points it elsewhere than AWS (the
    /// local stack, which is also where its CloudFormation answers go); never set in Lambda.
    pub endpoint_override: Option<String>,
    /// `Some` when the stack watches every NAT Gateway: the sweeper keeps their alarms.
    pub alarms: Option<AlarmConfig>,
    /// `<stack>.NatGatewaySpike.`, the stack's alarms' names (`ALARM_NAME_PREFIX`).
    pub alarm_name_prefix: String,
}

impl SweepConfig {
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let recording = whole_number(&env, "RECORDING_TIME_SECONDS")?;
        let grace = whole_number(&env, "SWEEP_GRACE_SECONDS")?;
        let state_machine = required(&env, "STATE_MACHINE_ARN")?;
        let executions = executions_of(&state_machine).ok_or_else(|| RecorderError::Config {
            name: "STATE_MACHINE_ARN",
            problem: format!("{state_machine:?} is not a state machine ARN (arn:...:states:...:stateMachine:<name>)"),
        })?;
        let stack_name = required(&env, "STACK_NAME")?;
        let watched = watched(&env)?;
        Ok(Self {
            table_name: required(&env, "TABLE_NAME")?,
            stack_id: stack_id(&env, &stack_name)?,
            ownership: ownership(&env)?,
            executions,
            state_machine_arn: state_machine,
            max_age: std::time::Duration::from_secs(u64::from(recording) + u64::from(grace)),
            min_age: std::time::Duration::from_secs(u64::from(whole_number(&env, "SWEEP_MIN_AGE_SECONDS")?)),
            endpoint_override: env("AWS_ENDPOINT_URL"),
            alarms: alarm_config(&env, &watched, &stack_name)?,
            alarm_name_prefix: watched.alarm_name_prefix,
            stack_name,
        })
    }
}

/// `STACK_ID`: `arn:<partition>:cloudformation:<region>:<account>:stack/<STACK_NAME>/<id>`.
fn stack_id(env: &impl Fn(&str) -> Option<String>, name: &str) -> Result<String> {
    let id = required(env, "STACK_ID")?;
    let parts: Vec<&str> = id.splitn(6, ':').collect();
    let resource = match parts[..] {
        ["arn", _, "cloudformation", _, _, resource] => resource,
        _ => "",
    };
    match resource.split('/').collect::<Vec<_>>()[..] {
        ["stack", stack, unique] if stack == name && !unique.is_empty() => Ok(id),
        _ => Err(RecorderError::Config {
            name: "STACK_ID",
            problem: format!(
                "{id:?} is not the ARN of the stack {name:?} (arn:...:cloudformation:...:stack/{name}/<id>)"
            ),
        }),
    }
}

/// What the notifier needs.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifierConfig {
    pub topic_arn: String,
    pub log_group_name: String,
    pub query_name: String,
    /// The region the console link opens in; Lambda sets `AWS_REGION`.
    pub region: String,
    /// USD per GB processed by a NAT Gateway, for the cost estimate.
    pub price_per_gb: f64,
    /// The account the report comes from (`ACCOUNT_ID`, `!Ref AWS::AccountId`).
    pub account_id: String,
    /// Whether the topic is shared by many accounts' recorders (`REPORT_TOPIC_SHARED`: the
    /// stack's ReportTopicArn is set); their subjects then name the account and Region.
    pub shared_topic: bool,
}

impl NotifierConfig {
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Self> {
        Ok(Self {
            topic_arn: required(&env, "TOPIC_ARN")?,
            log_group_name: required(&env, "LOG_GROUP_NAME")?,
            query_name: required(&env, "QUERY_NAME")?,
            region: required(&env, "AWS_REGION")?,
            account_id: {
                let id = required(&env, "ACCOUNT_ID")?;
                if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(RecorderError::Config {
                        name: "ACCOUNT_ID",
                        problem: format!("{id:?} is not an account id (12 digits)"),
                    });
                }
                id
            },
            shared_topic: flag(&env, "REPORT_TOPIC_SHARED")?,
            price_per_gb: {
                let text = required(&env, "NAT_PRICE_PER_GB")?;
                text.parse::<f64>().ok().filter(|p| p.is_finite() && *p >= 0.0).ok_or_else(|| {
                    RecorderError::Config {
                        name: "NAT_PRICE_PER_GB",
                        problem: format!("{text:?} is not a price in USD such as 0.045"),
                    }
                })?
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_env::fixed_env as env;

    const START: &[(&str, &str)] = &[
        ("TABLE_NAME", "recordings"),
        ("ALARM_NAME_PREFIX", "stack.NatGatewaySpike."),
        ("NAT_GATEWAY_IDS", "nat-0123456789abcdef0, nat-1234abcd"),
        ("STACK_NAME", "stack"),
        ("LOG_GROUP_NAME", "/flowlogs"),
        ("DELIVERY_ROLE_ARN", "arn:aws:iam::123456789012:role/delivery"),
        ("RECORDING_TIME_SECONDS", "900"),
        ("NUM_OF_RECORDINGS", "0"),
        ("REPORT_DELAY_SECONDS", "300"),
        ("MIN_RECORDING_SECONDS", "300"),
        ("NOTIFY_WHEN_LIMIT_REACHED", "false"),
    ];

    fn start_with(name: &str, value: Option<&str>) -> Result<StartConfig> {
        let mut pairs: Vec<(&str, &str)> = START.iter().copied().filter(|(k, _)| *k != name).collect();
        if let Some(value) = value {
            pairs.push((name, value));
        }
        StartConfig::from_env(env(&pairs))
    }

    #[test]
    fn reads_a_complete_start_config() {
        let config = StartConfig::from_env(env(START)).unwrap();
        assert_eq!(config.recording_time_seconds, 900);
        assert_eq!(config.max_recordings, 0);
        assert_eq!(config.watched.alarm_name_prefix, "stack.NatGatewaySpike.");
        assert_eq!(
            config.watched.nat_gateways,
            NatGateways::Listed(vec!["nat-0123456789abcdef0".into(), "nat-1234abcd".into()])
        );
        let all = start_with("NAT_GATEWAY_IDS", Some("all")).unwrap();
        assert_eq!(all.watched.nat_gateways, NatGateways::All);
    }

    #[test]
    fn the_watched_list_must_be_nat_gateway_ids() {
        let err = start_with("NAT_GATEWAY_IDS", Some("(set by the macro)")).unwrap_err();
        assert!(
            err.to_string().starts_with("environment variable NAT_GATEWAY_IDS: \"(set by the macro)\" is not"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_variable_is_named() {
        let err = start_with("LOG_GROUP_NAME", None).unwrap_err();
        assert_eq!(err.to_string(), "environment variable LOG_GROUP_NAME: is not set");
    }

    #[test]
    fn an_empty_variable_is_named() {
        let err = start_with("TABLE_NAME", Some("  ")).unwrap_err();
        assert_eq!(err.to_string(), "environment variable TABLE_NAME: is empty");
    }

    #[test]
    fn a_malformed_number_is_named_with_its_value() {
        let err = start_with("NUM_OF_RECORDINGS", Some("-1")).unwrap_err();
        assert!(err.to_string().starts_with("environment variable NUM_OF_RECORDINGS: \"-1\""), "{err}");
    }

    #[test]
    fn a_flag_is_true_or_false_and_nothing_else() {
        let err = start_with("NOTIFY_WHEN_LIMIT_REACHED", Some("yes")).unwrap_err();
        assert_eq!(err.to_string(), "environment variable NOTIFY_WHEN_LIMIT_REACHED: \"yes\" is not true or false");
    }

    #[test]
    fn recording_time_must_be_positive() {
        let err = start_with("RECORDING_TIME_SECONDS", Some("0")).unwrap_err();
        assert_eq!(err.error_type(), "ConfigurationError");
        assert!(err.to_string().contains("RECORDING_TIME_SECONDS"), "{err}");
    }

    const SWEEP: &[(&str, &str)] = &[
        ("TABLE_NAME", "t"),
        ("STACK_NAME", "s"),
        ("LOG_GROUP_NAME", "/flowlogs"),
        ("DELIVERY_ROLE_ARN", "arn:aws:iam::123456789012:role/delivery"),
        ("STATE_MACHINE_ARN", "arn:aws:states:us-east-1:123456789012:stateMachine:recorder"),
        ("RECORDING_TIME_SECONDS", "900"),
        ("SWEEP_GRACE_SECONDS", "600"),
        ("SWEEP_MIN_AGE_SECONDS", "120"),
        ("STACK_ID", "arn:aws:cloudformation:us-east-1:123456789012:stack/s/8a5c2b70-93c1-11ef-a2f5-0affd3c1e8b3"),
        ("ALARM_NAME_PREFIX", "s.NatGatewaySpike."),
        ("NAT_GATEWAY_IDS", "all"),
        ("THRESHOLD", "100000000"),
        ("SAMPLING_PERIOD", "60"),
        ("EVALUATION_PERIODS", "3"),
        ("DATAPOINTS_TO_ALARM", "1"),
        ("ALARM_MODE", "Static"),
        ("ANOMALY_BAND_WIDTH", "2"),
    ];

    fn sweep_with(name: &str, value: &str) -> Result<SweepConfig> {
        let mut pairs: Vec<(&str, &str)> = SWEEP.iter().copied().filter(|(k, _)| *k != name).collect();
        pairs.push((name, value));
        SweepConfig::from_env(env(&pairs))
    }

    #[test]
    fn the_sweeper_keeps_the_alarms_only_when_it_watches_all_and_checks_them_as_the_macro_does() {
        let alarms = SweepConfig::from_env(env(SWEEP)).unwrap().alarms.unwrap();
        assert_eq!((alarms.name_prefix.as_str(), alarms.stack_name.as_str()), ("s.NatGatewaySpike.", "s"));
        assert_eq!(alarms.mode, nat_alarms_macro::AlarmMode::Static);
        assert_eq!(alarms.parameters["EvaluationPeriods"], "3");
        assert_eq!(sweep_with("NAT_GATEWAY_IDS", "nat-1234abcd").unwrap().alarms, None);
        let err = sweep_with("SAMPLING_PERIOD", "30").unwrap_err().to_string();
        assert!(err.contains("SamplingPeriod: \"30\" is not a period NAT Gateway metrics have"), "{err}");
    }

    #[test]
    fn the_sweep_allows_a_recording_its_time_plus_the_grace() {
        let config = sweep_with("NAT_GATEWAY_IDS", "nat-1234abcd").unwrap();
        assert_eq!(config.max_age, std::time::Duration::from_secs(1500));
        assert_eq!(config.executions, "arn:aws:states:us-east-1:123456789012:execution:recorder:");
        assert_eq!(config.endpoint_override, None);
    }

    #[test]
    fn the_sweeper_refuses_a_stack_id_that_is_not_its_stacks() {
        for bad in ["arn:aws:cloudformation:us-east-1:123456789012:stack/other/1", "s", "arn:aws:s3:::stack/s/1"] {
            let err = stack_id(&env(&[("STACK_ID", bad)]), "s").unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")) && err.contains("stack/s/<id>"), "{err}");
        }
    }

    #[test]
    fn notifier_needs_the_region_for_its_console_link() {
        let err = NotifierConfig::from_env(env(&[
            ("TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:t"),
            ("LOG_GROUP_NAME", "/flowlogs"),
            ("QUERY_NAME", "q"),
            ("NAT_PRICE_PER_GB", "0.045"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("AWS_REGION"), "{err}");
    }

    #[test]
    fn the_price_must_be_a_price() {
        let err = NotifierConfig::from_env(env(&[
            ("TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:t"),
            ("LOG_GROUP_NAME", "/flowlogs"),
            ("QUERY_NAME", "q"),
            ("AWS_REGION", "us-east-1"),
            ("ACCOUNT_ID", "123456789012"),
            ("REPORT_TOPIC_SHARED", "false"),
            ("NAT_PRICE_PER_GB", "4.5 cents"),
        ]))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable NAT_PRICE_PER_GB: \"4.5 cents\" is not a price in USD such as 0.045"
        );
    }
}
