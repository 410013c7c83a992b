//! The five steps of the workflow. Each takes the adapters it needs and a decoded input, and
//! returns what the state machine stores; the Lambda binaries only decode and encode.

use std::collections::BTreeSet;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::DeserializeOwned;
use tracing::{info, warn};

use crate::analysis::{analyse, scoped, Analysis, TRAFFIC_QUERY};
use crate::config::{NotifierConfig, ResolverConfig, StartConfig, StopConfig};
use crate::contract::{
    alarm_ok_output, NotifyOutput, Recording, RegisterInput, RegisterOutput, ResolveOutcome, SkipReason, StartInput,
    StartOutput, StateInput, StopOutput,
};
use crate::error::{RecorderError, Result};
use crate::event::AlarmStateChange;
use crate::flowlogs::{describe_refusals, sibling_executions, FlowLogSpec, FlowLogs, Ownership, TaggedFlowLog};
use crate::insights::Insights;
use crate::notify::{compose, compose_skip, Delivery, Mailer, Report, ReportContext};
use crate::recording::{calm_from, spike_from, Claim, Judgement};
use crate::store::SlotTable;
use crate::tokens::{Resume, TaskTokens};

/// Decodes a step's input, naming the step and what is wrong.
pub fn decode<T: DeserializeOwned>(step: &str, value: serde_json::Value) -> Result<T> {
    serde_json::from_value(value).map_err(|e| RecorderError::InvalidInput(format!("{step}: {e}")))
}

/// The flow logs tagged with `execution`, split into those that are provably this stack's and
/// the ids of those that only carry its tags.
fn owned(tagged: Vec<TaggedFlowLog>, ownership: &Ownership, execution: &str) -> (Vec<TaggedFlowLog>, Vec<String>) {
    ownership.split(tagged, &sibling_executions(execution).unwrap_or_default())
}

fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// When a recording started `now` has lasted MinRecordingSeconds (never past RecordingTime),
/// rounded up to the whole second the ASL's timestamp carries.
fn at_least_until(now: DateTime<Utc>, config: &StartConfig) -> DateTime<Utc> {
    let minimum = config.min_recording_seconds.min(config.recording_time_seconds);
    let until = now + chrono::Duration::seconds(i64::from(minimum));
    let whole = until.timestamp() + i64::from(until.timestamp_subsec_nanos() > 0);
    DateTime::from_timestamp(whole, 0).unwrap_or(until)
}

/// StartRecording: claim the slot, find the interfaces, create the flow logs.
pub async fn start_recording(
    config: &StartConfig,
    slots: &SlotTable,
    ec2: &FlowLogs,
    input: StartInput,
    now: DateTime<Utc>,
) -> Result<StartOutput> {
    let event = AlarmStateChange::from_value(input.event)?;
    let spike = match spike_from(&event, &config.watched, now)? {
        Judgement::Act(spike) => spike,
        Judgement::Skip(reason) => {
            info!(alarm = %event.detail.alarm_name, reason = reason.describe(), "skipped");
            return Ok(StartOutput::Skip {
                reason,
                nat_gateway_id: event.nat_gateway_id().map(str::to_owned),
                notify: false,
            });
        }
    };
    let nat = spike.nat_gateway_id.clone();
    let span = tracing::info_span!("start_recording", nat_gateway_id = %nat, execution = %input.execution_arn);
    let _enter = span.enter();

    let gateway = ec2.nat_gateway(&nat).await?;
    if !gateway.can_carry_traffic() {
        info!(state = %gateway.state, "skipped: the NAT Gateway cannot carry traffic");
        return Ok(StartOutput::Skip {
            reason: SkipReason::NatGatewayUnavailable,
            nat_gateway_id: Some(nat),
            notify: false,
        });
    }
    let claimed_at = rfc3339(now);
    let claim = slots.claim(&spike, &input.execution_arn, config.max_recordings, &claimed_at).await?;
    let reason = match &claim {
        Claim::AfterOwner { owner } => {
            return Err(RecorderError::SlotBusy { nat_gateway_id: nat, owner: owner.clone() });
        }
        Claim::Extends => {
            info!("a newer episode while the recording waits for its OK: the running recording goes on through it");
            Some(SkipReason::AlreadyRecording)
        }
        Claim::Refused(reason) => Some(*reason),
        Claim::Claimed | Claim::AlreadyOwned { .. } => None,
    };
    if let Some(reason) = reason {
        info!(reason = reason.describe(), "skipped");
        // One "not recorded" email per episode, however often its ALARM is delivered.
        let notify = reason == SkipReason::LimitReached
            && config.notify_limit_reached
            && slots.first_limit_notice(&nat, spike.alarm_at_millis).await?;
        return Ok(StartOutput::Skip { reason, nat_gateway_id: Some(nat), notify });
    }
    // A retried start keeps the time of the claim: the recording, and its report's window,
    // began then.
    let retried = matches!(claim, Claim::AlreadyOwned { .. });
    let started_at = match claim {
        Claim::AlreadyOwned { started_at: Some(first) } => first,
        _ => claimed_at,
    };

    let interfaces = gateway.network_interface_ids;
    // A retried StartRecording may have created some flow logs already: keep them.
    let existing = if retried {
        owned(ec2.find_by_execution(&input.execution_arn).await?, &config.ownership(), &input.execution_arn).0
    } else {
        Vec::new()
    };
    let covered: BTreeSet<&str> = existing.iter().filter_map(|f| f.resource_id.as_deref()).collect();
    let missing: Vec<String> = interfaces.iter().filter(|eni| !covered.contains(eni.as_str())).cloned().collect();
    let mut flow_log_ids: Vec<String> = existing.iter().map(|f| f.flow_log_id.clone()).collect();
    if !missing.is_empty() {
        let (created, refused) = ec2
            .create(&FlowLogSpec {
                network_interface_ids: &missing,
                log_group_name: &config.log_group_name,
                delivery_role_arn: &config.delivery_role_arn,
                stack_name: &config.stack_name,
                execution_arn: &input.execution_arn,
                nat_gateway_id: &nat,
            })
            .await?;
        flow_log_ids.extend(created);
        if !refused.is_empty() {
            // What was created carries this execution's tag: StopRecording finds and deletes it.
            return Err(RecorderError::FlowLogCreationFailed(describe_refusals(&refused)));
        }
    }
    let undeliverable = ec2.failed_deliveries(&flow_log_ids).await?;
    if !undeliverable.is_empty() {
        return Err(RecorderError::FlowLogCreationFailed(describe_refusals(&undeliverable)));
    }
    slots.record_flow_logs(&nat, &input.execution_arn, &flow_log_ids, &interfaces).await?;
    info!(flow_logs = ?flow_log_ids, interfaces = ?interfaces, "recording");
    Ok(StartOutput::Record {
        recording: Recording {
            nat_gateway_id: nat,
            execution_arn: input.execution_arn,
            alarm_at_millis: spike.alarm_at_millis,
            network_interface_ids: interfaces,
            nat_addresses: gateway.private_addresses,
            flow_log_ids,
            log_group_name: config.log_group_name.clone(),
            started_at,
            timeout_seconds: config.recording_time_seconds,
            record_at_least_until: rfc3339(at_least_until(now, config)),
            report_delay_seconds: config.report_delay_seconds,
        },
    })
}

/// token-register: store the token while this execution owns the slot; resume at once when
/// the OK came first.
pub async fn register_token(
    slots: &SlotTable,
    task_tokens: &TaskTokens,
    input: RegisterInput,
) -> Result<RegisterOutput> {
    let span =
        tracing::info_span!("register_token", nat_gateway_id = %input.nat_gateway_id, execution = %input.execution_arn);
    let _enter = span.enter();
    let ok_first = slots.store_token(&input.nat_gateway_id, &input.execution_arn, &input.task_token).await?;
    let Some(ok_at) = ok_first else {
        info!("waiting for the alarm to return to OK");
        return Ok(RegisterOutput { stored: true, resumed_at_once: false });
    };
    let resume = task_tokens.resume(&input.task_token, &alarm_ok_output(ok_at, "token-register")).await?;
    info!(?resume, "the OK came before the token: resumed at once");
    Ok(RegisterOutput { stored: true, resumed_at_once: true })
}

/// alarm-ok-resolver: end the active recording this OK belongs to.
pub async fn resolve_ok(
    config: &ResolverConfig,
    slots: &SlotTable,
    task_tokens: &TaskTokens,
    event: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<ResolveOutcome> {
    let event = AlarmStateChange::from_value(event)?;
    let calm = match calm_from(&event, &config.watched, now)? {
        Judgement::Act(calm) => calm,
        Judgement::Skip(reason) => {
            info!(alarm = %event.detail.alarm_name, reason = reason.describe(), "ignored");
            return Ok(ResolveOutcome::Ignored { reason });
        }
    };
    let span = tracing::info_span!("resolve_ok", nat_gateway_id = %calm.nat_gateway_id);
    let _enter = span.enter();
    slots.remember_ok(&calm.nat_gateway_id, calm.ok_at_millis).await?;
    let Some(marked) = slots.mark_ok(&calm.nat_gateway_id, calm.ok_at_millis).await? else {
        info!("no active recording began before this OK");
        return Ok(ResolveOutcome::NoRecording);
    };
    let Some(token) = marked.task_token else {
        info!(execution = %marked.execution_arn, "marked: the recording resumes when its token is stored");
        return Ok(ResolveOutcome::Marked);
    };
    match task_tokens.resume(&token, &alarm_ok_output(calm.ok_at_millis, "alarm-ok-resolver")).await? {
        Resume::Resumed => {
            info!(execution = %marked.execution_arn, "resumed");
            Ok(ResolveOutcome::Resumed)
        }
        Resume::AlreadyResolved => {
            info!(execution = %marked.execution_arn, "the wait had already ended");
            Ok(ResolveOutcome::AlreadyResolved)
        }
    }
}

/// StopRecording: delete every flow log of this execution, then release the slot if this
/// execution still owns it. Safe to run again: what is gone stays gone.
pub async fn stop_recording(
    config: &StopConfig,
    slots: &SlotTable,
    ec2: &FlowLogs,
    input: StateInput,
    now: DateTime<Utc>,
) -> Result<StopOutput> {
    let execution = input
        .execution_arn
        .ok_or_else(|| RecorderError::InvalidInput("StopRecording: executionArn is missing".into()))?;
    let state = input.state;
    let nat = state.nat_gateway_id()?;
    let span = tracing::info_span!("stop_recording", nat_gateway_id = %nat, execution = %execution);
    let _enter = span.enter();

    let mut ids: BTreeSet<String> =
        state.recording().map(|r| r.flow_log_ids.iter().cloned().collect()).unwrap_or_default();
    let (ours, foreign) = owned(ec2.find_by_execution(&execution).await?, &config.ownership, &execution);
    ids.extend(ours.into_iter().map(|f| f.flow_log_id));
    let ids: Vec<String> = ids.into_iter().collect();
    ec2.delete(&ids).await?;
    // A recording whose start failed never captured: it does not use up NumOfRecordings.
    let never_captured = state.recording().is_none() && state.failure.is_some();
    let released = slots.release(&nat, &execution, never_captured).await?;
    if !released {
        warn!("the slot was not owned by this execution any more; left it as it is");
    }
    let ending = state.ending();
    info!(deleted = ?ids, ending = ?ending, "stopped");
    Ok(StopOutput {
        nat_gateway_id: nat,
        ending,
        deleted_flow_log_ids: ids,
        foreign_flow_log_ids: foreign,
        stopped_at: rfc3339(now),
        released,
    })
}

/// How often the notifier looks for the last records while it waits for them.
const DELIVERY_POLL_SECS: i64 = 30;

/// Whether the records up to the stop have reached the log group, or the wait for them is over.
/// `Err(seconds)`: not yet, ask again in that long. Flow logs deliver "in about 5 minutes", best
/// effort (VPC User Guide, "Flow logs basics"), so the report waits for them, for at most
/// `report_delay_seconds` after the stop.
async fn delivery(
    insights: &Insights,
    recording: &Recording,
    stop: &StopOutput,
    now: DateTime<Utc>,
) -> std::result::Result<Delivery, u32> {
    let stopped = DateTime::parse_from_rfc3339(&stop.stopped_at).map(|t| t.with_timezone(&Utc)).unwrap_or(now);
    let since_ms = (stopped - chrono::Duration::seconds(AGGREGATION_SLACK_SECS)).timestamp_millis();
    // Up to the stop and no later: a record is stamped with the start of its capture window, so
    // none of this recording's is later than its stop, and a successor's on the same stream
    // (`<eni>-all`) all are; the analysis reads the same window.
    let streams = recording.log_streams();
    let arrived =
        match insights.has_records_between(&recording.log_group_name, &streams, since_ms, stopped.timestamp()).await {
            Ok(arrived) => arrived,
            Err(e) => {
                warn!(error = %e, "could not look for the last records; treated as not arrived yet");
                false
            }
        };
    let deadline = stopped + chrono::Duration::seconds(i64::from(recording.report_delay_seconds));
    if !arrived && now < deadline {
        let left = (deadline - now).num_seconds().clamp(1, DELIVERY_POLL_SECS);
        return Err(left as u32);
    }
    Ok(Delivery { stopped_at: stop.stopped_at.clone(), complete: arrived })
}

/// Flow logs aggregate for up to this long before a record is written: a record stamped this
/// long before the stop is the last a recording can have.
const AGGREGATION_SLACK_SECS: i64 = 60;

/// Analyses the recorded window with Logs Insights: `Ok` even when it finds nothing yet; `Err`
/// with the reason when a query fails, so the email can say so.
pub async fn analyse_recording(
    insights: &Insights,
    recording: &Recording,
    stop: &StopOutput,
    price_per_gb: f64,
) -> std::result::Result<Analysis, String> {
    let start = DateTime::parse_from_rfc3339(&recording.started_at)
        .map_err(|e| format!("start time {:?}: {e}", recording.started_at))?
        .timestamp();
    // A record is stamped with the start of its capture window, so none of this recording's is
    // later than the stop; ending there keeps the next recording's records on the same streams
    // out of this report.
    let end = DateTime::parse_from_rfc3339(&stop.stopped_at)
        .map_err(|e| format!("stop time {:?}: {e}", stop.stopped_at))?
        .timestamp();
    let query = scoped(TRAFFIC_QUERY, &recording.log_streams());
    let rows = insights.query(&recording.log_group_name, &query, start, end).await.map_err(|e| e.to_string())?;
    analyse(&rows, &recording.nat_addresses, price_per_gb)
}

/// Notify: email the report of how the recording ended (or of a skip that asks for one).
pub async fn notify(
    config: &NotifierConfig,
    mailer: &Mailer,
    insights: &Insights,
    input: StateInput,
    now: DateTime<Utc>,
) -> Result<NotifyOutput> {
    let state = input.state;
    let context = ReportContext {
        region: &config.region,
        log_group_name: &config.log_group_name,
        query_name: &config.query_name,
    };
    let email = if let Some((nat, reason)) = state.notified_skip() {
        compose_skip(nat.unwrap_or("(unknown)"), reason)
    } else {
        let nat = state
            .stop
            .as_ref()
            .map(|s| s.nat_gateway_id.clone())
            .or_else(|| state.nat_gateway_id().ok())
            .unwrap_or_else(|| "(unknown)".into());
        let mut delivered = None;
        if let (Some(recording), Some(stop), None) = (state.recording(), state.stop.as_ref(), &state.failure) {
            match delivery(insights, recording, stop, now).await {
                Ok(found) => delivered = Some(found),
                Err(retry_in_seconds) => {
                    info!(nat_gateway_id = %nat, retry_in_seconds, "the last records have not arrived yet");
                    return Ok(NotifyOutput::Wait { retry_in_seconds });
                }
            }
        }
        let analysis = match (state.recording(), state.stop.as_ref()) {
            (Some(recording), Some(stop)) => {
                let analysis = analyse_recording(insights, recording, stop, config.price_per_gb).await;
                if let Err(reason) = &analysis {
                    warn!(nat_gateway_id = %nat, %reason, "the analysis failed; the email says so");
                }
                Some(analysis)
            }
            _ => None,
        };
        let report = Report {
            recording: state.recording(),
            stop: state.stop.as_ref(),
            stop_failure: state.stop_failure.as_ref(),
            nat_gateway_id: &nat,
            analysis: analysis.as_ref(),
            delivery: delivered.as_ref(),
        };
        compose(&report, &context)
    };
    let message_id = mailer.send(&email).await?;
    info!(subject = %email.subject, "report sent");
    Ok(NotifyOutput::Sent { message_id, subject: email.subject })
}
