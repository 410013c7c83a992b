//! The state machine's contract: every type the ASL (`statemachine/recorder.asl.json`) passes to a
//! step or stores from one. The decisions live in `recording`, the steps in `steps`.
//!
//! | state | binary | Rust function | input | output (`ResultPath`) |
//! |---|---|---|---|---|
//! | StartRecording | alarm-start | `steps::start_recording` | [`StartInput`] | [`StartOutput`] (`$.start`) |
//! | Skipped? | (Choice) | | `$.start.action`, `$.start.notify` | |
//! | WaitForAlarmOrTimeout | token-register | `steps::register_token` | [`RegisterInput`] | [`alarm_ok_output`] (`$.wait`) |
//! | RecordAtLeast | (Wait) | | [`Recording::record_at_least_until`] | |
//! | StopRecording | flowlog-stop | `steps::stop_recording` | [`StateInput`] | [`StopOutput`] (`$.stop`) |
//! | Notify | notifier | `steps::notify` | [`StateInput`] | [`NotifyOutput`] (`$.notify`) |
//! | Sent?, WaitForDelivery | (Choice, Wait) | | `$.notify.action`, `$.notify.retryInSeconds` | |
//! | (OK rule) | alarm-ok-resolver | `steps::resolve_ok` | the EventBridge event | [`ResolveOutcome`] |
//! | (schedule) | flowlog-sweeper | `sweep::sweep` | the scheduled event | `sweep::SweepReport` |
//!
//! A step's Catch stores a [`CaughtError`] at `$.failure`, `$.timeout` or `$.stopFailure`;
//! StopRecording and Notify read the whole state as a [`WorkflowState`].

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::{RecorderError, Result};
use crate::event::AlarmStateChange;

/// One recording, as the state machine carries it from StartRecording to Notify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recording {
    pub nat_gateway_id: String,
    pub execution_arn: String,
    /// The state timestamp of the ALARM that started this recording (ms since the epoch).
    pub alarm_at_millis: i64,
    /// When the datapoints that moved the alarm began (ms), where its event says: the report
    /// measures the spike from here.
    #[serde(default)]
    pub spike_since_millis: Option<i64>,
    pub network_interface_ids: Vec<String>,
    /// The NAT Gateway's private addresses: the report tells its legs apart by them.
    #[serde(default)]
    pub nat_addresses: Vec<String>,
    /// A private NAT Gateway: the report says "remote hosts", not "the internet".
    #[serde(default)]
    pub private_nat: bool,
    pub flow_log_ids: Vec<String>,
    pub log_group_name: String,
    /// RFC 3339.
    pub started_at: String,
    /// The wait's `TimeoutSecondsPath` points here.
    pub timeout_seconds: u32,
    /// RFC 3339, whole seconds: an OK before this is kept and ends the recording at this time
    /// (the `RecordAtLeast` state's `TimestampPath`); never later than the time limit.
    pub record_at_least_until: String,
    /// The longest the report waits after the stop for records to reach the log group.
    #[serde(default)]
    pub report_delay_seconds: u32,
    /// Asked for by hand (`make record`), not started by an alarm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_demand: Option<OnDemand>,
}

/// A recording asked for by hand: the execution's input is `{"record": {...}}` (`make record`,
/// or `aws stepfunctions start-execution`), validated as an alarm event is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OnDemand {
    pub nat_gateway_id: String,
    /// How long to record, at most RecordingTime.
    pub minutes: u32,
    /// Who asked, as the request says (`make record` writes the caller's ARN). Step Functions
    /// keeps no caller of an execution; CloudTrail's StartExecution event does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
}

impl OnDemand {
    /// The request in an execution's input, if the input is one (`{"record": {...}}`); a
    /// malformed one is an error naming what is wrong.
    pub fn requested(input: &serde_json::Value) -> crate::Result<Option<Self>> {
        let Some(request) = input.get("record") else { return Ok(None) };
        serde_json::from_value(request.clone()).map(Some).map_err(|e| {
            crate::RecorderError::InvalidInput(format!(
                "a recording asked for by hand must be {{\"record\": {{\"natGatewayId\": \"nat-...\", \"minutes\": N, \"requestedBy\": \"...\"}}}}: {e}"
            ))
        })
    }
}

/// The log stream VPC Flow Logs writes an interface's records to, in a CloudWatch Logs group.
pub fn log_stream_of(network_interface_id: &str) -> String {
    format!("{network_interface_id}-all")
}

impl Recording {
    /// The log streams of this recording: one per network interface.
    pub fn log_streams(&self) -> Vec<String> {
        self.network_interface_ids.iter().map(|eni| log_stream_of(eni)).collect()
    }
}

/// Why an alarm event did not start a recording. None of these is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SkipReason {
    /// The alarm is not one of this stack's: its name, or the NAT Gateway its metrics name, does
    /// not match `<stack>.NatGatewaySpike.<nat id>`.
    NotOurAlarm,
    /// The NAT Gateway is not one this stack watches.
    NotWatched,
    /// The state timestamp is later than now (beyond clock skew): forged or broken.
    FutureTimestamp,
    /// No metric of the alarm has a `NatGatewayId` dimension.
    NoNatGateway,
    /// The event is not a transition into ALARM.
    NotAnAlarm,
    /// Another execution is recording this NAT Gateway: it records this episode too, and hands
    /// the NAT Gateway over to a successor if the episode is still open when it stops.
    AlreadyRecording,
    /// A recording asked for by hand while an ALARM episode is open that nobody records yet:
    /// the episode's own recording is starting (a hand-over), and takes the NAT Gateway.
    RecordingStarting,
    /// This ALARM episode, or a later one, was already decided: recorded, covered by a
    /// recording, or refused.
    DuplicateAlarm,
    /// NumOfRecordings has been reached for this NAT Gateway.
    LimitReached,
    /// The NAT Gateway is deleted, being deleted or failed: it carries no traffic to record.
    NatGatewayUnavailable,
    /// The stack is being deleted: nothing starts recording any more.
    Uninstalling,
}

impl SkipReason {
    pub fn describe(self) -> &'static str {
        match self {
            Self::NotOurAlarm => "the alarm does not belong to this stack",
            Self::NotWatched => "the NAT Gateway is not one this stack watches",
            Self::FutureTimestamp => "the alarm's state timestamp is in the future",
            Self::NoNatGateway => "the alarm has no NatGatewayId dimension",
            Self::NotAnAlarm => "the alarm did not enter the ALARM state",
            Self::AlreadyRecording => "this NAT Gateway is already being recorded",
            Self::RecordingStarting => "an alarm episode of this NAT Gateway is open and its recording is starting",
            Self::DuplicateAlarm => "this alarm episode, or a later one, was already handled",
            Self::LimitReached => "NumOfRecordings has been reached for this NAT Gateway",
            Self::NatGatewayUnavailable => "the NAT Gateway is deleted, being deleted or failed",
            Self::Uninstalling => "the stack is being deleted",
        }
    }
}

/// What StartRecording returns; the Choice state reads `action`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum StartOutput {
    Record {
        /// Boxed: a recording is many times the size of a skip.
        recording: Box<Recording>,
    },
    Skip {
        reason: SkipReason,
        #[serde(rename = "natGatewayId", skip_serializing_if = "Option::is_none")]
        nat_gateway_id: Option<String>,
        /// Whether this skip is emailed (the Choice state reads it; always present).
        #[serde(default)]
        notify: bool,
    },
}

/// How a recording ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "ending", rename_all = "kebab-case")]
pub enum Ending {
    /// The alarm returned to OK.
    AlarmOk,
    /// RecordingTime passed first.
    Timeout,
    /// A step failed; `error` and `cause` are what Step Functions reported.
    Error { error: String, cause: String },
}

impl Ending {
    pub fn describe(&self) -> String {
        match self {
            Self::AlarmOk => "the alarm returned to OK".into(),
            Self::Timeout => "the recording time ran out before the alarm returned to OK".into(),
            Self::Error { error, cause } => format!("a step failed ({error}: {cause})"),
        }
    }
}

/// A Step Functions error caught into the state by a `Catch`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaughtError {
    #[serde(rename = "Error", default)]
    pub error: String,
    #[serde(rename = "Cause", default)]
    pub cause: String,
}

/// The workflow's state as StopRecording and Notify receive it: the alarm event at the root, with
/// what each step added.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowState {
    #[serde(default)]
    pub start: Option<StartOutput>,
    /// The output of a successful wait (SendTaskSuccess).
    #[serde(default)]
    pub wait: Option<serde_json::Value>,
    /// Set by the wait's `States.Timeout` catcher.
    #[serde(default)]
    pub timeout: Option<CaughtError>,
    /// Set by any other catcher.
    #[serde(default)]
    pub failure: Option<CaughtError>,
    #[serde(default)]
    pub stop: Option<StopOutput>,
    /// Set when StopRecording itself failed after its retries.
    #[serde(default)]
    pub stop_failure: Option<CaughtError>,
    /// Notify's last answer, when it asked to wait: its census.
    #[serde(default)]
    pub notify: Option<NotifyOutput>,
    /// The rest: the alarm event's own fields.
    #[serde(flatten)]
    pub event: serde_json::Map<String, serde_json::Value>,
}

impl WorkflowState {
    /// The NAT Gateway and reason of a skipped alarm that is to be emailed.
    pub fn notified_skip(&self) -> Option<(Option<&str>, SkipReason)> {
        match &self.start {
            Some(StartOutput::Skip { reason, nat_gateway_id, notify: true }) => {
                Some((nat_gateway_id.as_deref(), *reason))
            }
            _ => None,
        }
    }

    pub fn recording(&self) -> Option<&Recording> {
        match &self.start {
            Some(StartOutput::Record { recording }) => Some(recording),
            _ => None,
        }
    }

    /// Why the recording ended: a failure wins over a timeout, a timeout over an OK.
    pub fn ending(&self) -> Ending {
        if let Some(failure) = &self.failure {
            return Ending::Error { error: failure.error.clone(), cause: failure.cause.clone() };
        }
        if self.timeout.is_some() {
            return Ending::Timeout;
        }
        if self.wait.is_some() {
            return Ending::AlarmOk;
        }
        Ending::Error {
            error: "NoOutcome".into(),
            cause: "the recording stopped without an OK, a timeout or a caught error".into(),
        }
    }

    /// The NAT Gateway: from the recording, or from the alarm event when StartRecording failed.
    pub fn nat_gateway_id(&self) -> Result<String> {
        if let Some(recording) = self.recording() {
            return Ok(recording.nat_gateway_id.clone());
        }
        let event = AlarmStateChange::from_value(serde_json::Value::Object(self.event.clone()))?;
        event
            .nat_gateway_id()
            .map(str::to_owned)
            .ok_or_else(|| RecorderError::InvalidInput("the alarm event names no NAT Gateway".into()))
    }
}

/// What StopRecording returns, and Notify reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StopOutput {
    pub nat_gateway_id: String,
    #[serde(flatten)]
    pub ending: Ending,
    pub deleted_flow_log_ids: Vec<String>,
    /// Flow logs that carry this execution's tags but are not this stack's (`flowlogs::Ownership`):
    /// left alone, and named here so the refusal shows in the execution's output.
    #[serde(default)]
    pub foreign_flow_log_ids: Vec<String>,
    /// RFC 3339.
    pub stopped_at: String,
    /// Whether this execution still owned the slot and released it.
    pub released: bool,
    /// The execution this one handed the NAT Gateway over to: an episode that began while it
    /// recorded was still open when it stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successor: Option<String>,
}

/// StartRecording's input: the alarm event and the execution (`$$.Execution.Id`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartInput {
    pub event: serde_json::Value,
    pub execution_arn: String,
}

/// WaitForAlarmOrTimeout's input.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterInput {
    pub task_token: String,
    pub nat_gateway_id: String,
    pub execution_arn: String,
}

/// The result sent with SendTaskSuccess: the wait's output, `$.wait` in the state.
pub fn alarm_ok_output(ok_at_millis: i64, resumed_by: &str) -> serde_json::Value {
    json!({"ending": "alarm-ok", "okAtMillis": ok_at_millis, "resumedBy": resumed_by})
}

/// What token-register did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterOutput {
    pub stored: bool,
    /// An OK had arrived before the token: the wait was resumed at once.
    pub resumed_at_once: bool,
}

/// What the OK resolver did with an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum ResolveOutcome {
    /// Not an OK of ours.
    Ignored { reason: SkipReason },
    /// No active recording began before this OK (a late OK, or nothing recording).
    NoRecording,
    /// The recording is not waiting yet: token-register will resume it when it stores its token.
    Marked,
    /// The waiting execution was resumed.
    Resumed,
    /// The wait had already ended (timed out, or resumed by a duplicate OK).
    AlreadyResolved,
}

/// StopRecording's and Notify's input: the whole state and the execution.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateInput {
    pub state: WorkflowState,
    #[serde(default)]
    pub execution_arn: Option<String>,
}

/// How many records each of a recording's log streams held at one of Notify's polls: the next
/// poll compares its own with it (the workflow passes it back in `$.notify`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Census {
    /// RFC 3339: when a poll first counted these numbers.
    pub at: String,
    /// By log stream; a stream with no record is absent.
    pub records: std::collections::BTreeMap<String, u64>,
}

/// What the notifier did; the `Sent?` state reads `action`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum NotifyOutput {
    /// The recording's last records have not all reached the log group yet: ask again in this
    /// long, with what this poll counted.
    Wait {
        #[serde(rename = "retryInSeconds")]
        retry_in_seconds: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        census: Option<Census>,
    },
    Sent {
        #[serde(rename = "messageId")]
        message_id: String,
        subject: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::fixture;

    #[test]
    fn start_output_is_tagged_for_the_choice_state() {
        let skip =
            StartOutput::Skip { reason: SkipReason::LimitReached, nat_gateway_id: Some("nat-1".into()), notify: true };
        assert_eq!(
            serde_json::to_value(&skip).unwrap(),
            json!({"action": "skip", "reason": "limit-reached", "natGatewayId": "nat-1", "notify": true})
        );
    }

    fn recording() -> Recording {
        Recording {
            nat_gateway_id: "nat-0123456789abcdef0".into(),
            execution_arn: "arn:aws:states:us-east-1:123456789012:execution:sm:e1".into(),
            alarm_at_millis: 1,
            spike_since_millis: None,
            network_interface_ids: vec!["eni-1".into()],
            nat_addresses: vec!["10.0.0.220".into()],
            private_nat: false,
            flow_log_ids: vec!["fl-1".into()],
            log_group_name: "/flowlogs".into(),
            started_at: "2024-05-14T10:15:02Z".into(),
            timeout_seconds: 900,
            record_at_least_until: "2024-05-14T10:20:02Z".into(),
            report_delay_seconds: 300,
            on_demand: None,
        }
    }

    fn state_with(extra: serde_json::Value) -> WorkflowState {
        let mut value = fixture("alarm.json");
        value["start"] = serde_json::to_value(StartOutput::Record { recording: Box::new(recording()) }).unwrap();
        for (k, v) in extra.as_object().unwrap() {
            value[k] = v.clone();
        }
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn the_ending_follows_what_the_wait_left_in_the_state() {
        assert_eq!(state_with(json!({"wait": {"ending": "alarm-ok"}})).ending(), Ending::AlarmOk);
        assert_eq!(state_with(json!({"timeout": {"Error": "States.Timeout", "Cause": ""}})).ending(), Ending::Timeout);
        let failed = state_with(json!({"failure": {"Error": "SlotNotOwned", "Cause": "lost"}}));
        assert_eq!(failed.ending(), Ending::Error { error: "SlotNotOwned".into(), cause: "lost".into() });
    }

    #[test]
    fn a_failed_start_still_names_its_nat_gateway_from_the_event() {
        let mut value = fixture("alarm.json");
        value["failure"] = json!({"Error": "FlowLogCreationFailed", "Cause": "eni-1: denied"});
        let state: WorkflowState = serde_json::from_value(value).unwrap();
        assert!(state.recording().is_none());
        assert_eq!(state.nat_gateway_id().unwrap(), "nat-0123456789abcdef0");
    }
}
