//! The five steps of the workflow. Each takes the adapters it needs and a decoded input, and
//! returns what the state machine stores; the Lambda binaries only decode and encode.

use std::collections::BTreeSet;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::DeserializeOwned;
use tracing::{info, warn};

use crate::analysis::{analyse, queries, Analysis, Answers};
use crate::config::{NotifierConfig, ResolverConfig, StartConfig, StopConfig};
use crate::contract::{
    alarm_ok_output, Census, NotifyOutput, OnDemand, Recording, RegisterInput, RegisterOutput, ResolveOutcome,
    SkipReason, StartInput, StartOutput, StateInput, StopOutput,
};
use crate::error::{RecorderError, Result};
use crate::event::AlarmStateChange;
use crate::flowlogs::{
    describe_refusals, sibling_executions, FlowLogSpec, FlowLogs, Ownership, Refusal, TaggedFlowLog, ALREADY_EXISTS,
    VISIBILITY_WAITS_MS,
};
use crate::insights::Insights;
use crate::meter::Readings;
use crate::metrics::Meter;
use crate::notify::{arrival, compose, compose_skip, Arrival, Delivery, Origin, Report, ReportContext, TALKERS_SHOWN};
use crate::protocol::{Effect, Input, Start};
use crate::recording::{self, calm_from, spike_from, Judgement};
use crate::sns::Mailer;
use crate::store::SlotTable;
use crate::tokens::{Executions, Resume, TaskTokens};
use crate::workloads::Workloads;

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

fn parse_time(what: &str, text: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| RecorderError::InvalidInput(format!("{what} {text:?} is not an RFC 3339 time: {e}")))
}

/// When a recording that claimed its slot at `claimed` has lasted MinRecordingSeconds (never
/// past RecordingTime), in the whole seconds the ASL's timestamp carries. The claim time is kept
/// in whole seconds, truncated: the claim happened within the second after it, so the minimum
/// ends one second later.
fn at_least_until(claimed: DateTime<Utc>, config: &StartConfig) -> DateTime<Utc> {
    let minimum = (i64::from(config.min_recording_seconds) + 1).min(i64::from(config.recording_time_seconds));
    DateTime::from_timestamp(claimed.timestamp() + minimum, 0).unwrap_or(claimed)
}

/// What is left of the recording's time (RecordingTime, or the minutes asked for by hand) since
/// the claim: a retried start does not start the clock again. At least one second (the wait's
/// timeout must be positive).
fn time_left(claimed: DateTime<Utc>, now: DateTime<Utc>, limit_seconds: u32) -> u32 {
    let spent = (now - claimed).num_seconds().max(0);
    (i64::from(limit_seconds) - spent).clamp(1, i64::from(u32::MAX)) as u32
}

/// What StartRecording claims the NAT Gateway for: an ALARM's episode, or a recording asked for
/// by hand.
struct Claim {
    nat: String,
    input: Input,
    spike_since_millis: Option<i64>,
    /// RecordingTime, or the minutes asked for.
    limit_seconds: u32,
    on_demand: Option<OnDemand>,
}

/// "Already exists" on an interface that one of this execution's own flow logs records (a
/// create whose answer was lost, which EC2 did not list yet when the start was retried) is
/// success: that flow log is the one. Asks again while EC2 does not list it (EC2 API Reference,
/// "Eventual consistency in the Amazon EC2 API"); returns its ids and the refusals that remain.
async fn adopt_our_own(
    ec2: &FlowLogs,
    config: &StartConfig,
    execution: &str,
    refused: Vec<Refusal>,
) -> Result<(Vec<String>, Vec<Refusal>)> {
    let (exists, others): (Vec<Refusal>, Vec<Refusal>) = refused.into_iter().partition(|r| r.code == ALREADY_EXISTS);
    if exists.is_empty() {
        return Ok((Vec::new(), others));
    }
    let mut found = Vec::new();
    for wait_ms in VISIBILITY_WAITS_MS {
        tokio::time::sleep(std::time::Duration::from_millis(wait_ms)).await;
        found = owned(ec2.find_by_execution(execution).await?, &config.ownership(), execution).0;
        let covered = |r: &Refusal| found.iter().any(|f| f.resource_id.as_deref() == Some(r.resource_id.as_str()));
        if exists.iter().all(covered) {
            break;
        }
    }
    let mut ids = Vec::new();
    let mut remaining = others;
    for refusal in exists {
        match found.iter().find(|f| f.resource_id.as_deref() == Some(refusal.resource_id.as_str())) {
            Some(ours) => ids.push(ours.flow_log_id.clone()),
            None => remaining.push(refusal),
        }
    }
    Ok((ids, remaining))
}

fn not_owned(nat: &str, execution: &str) -> RecorderError {
    RecorderError::SlotNotOwned { nat_gateway_id: nat.to_owned(), execution: execution.to_owned() }
}

/// A protocol effect no step of this kind can get: a bug, said plainly.
fn unexpected(step: &str, effect: &Effect) -> RecorderError {
    RecorderError::Aws { operation: "the recording protocol", message: format!("{step} got {effect:?}") }
}

/// StartRecording: claim the slot, find the interfaces, create the flow logs.
pub async fn start_recording(
    config: &StartConfig,
    slots: &SlotTable,
    ec2: &FlowLogs,
    input: StartInput,
    now: DateTime<Utc>,
) -> Result<StartOutput> {
    let claim = match OnDemand::requested(&input.event)? {
        Some(request) => match recording::by_hand(&request, &config.watched, config.recording_time_seconds)? {
            Judgement::Act(seconds) => Claim {
                nat: request.nat_gateway_id.clone(),
                input: Input::OnDemand {
                    at: now.timestamp_millis(),
                    execution: input.execution_arn.clone(),
                    started_at: rfc3339(now),
                },
                spike_since_millis: None,
                limit_seconds: seconds,
                on_demand: Some(request),
            },
            Judgement::Skip(reason) => {
                info!(nat_gateway_id = %request.nat_gateway_id, reason = reason.describe(), "skipped a recording asked for by hand");
                return Ok(StartOutput::Skip { reason, nat_gateway_id: Some(request.nat_gateway_id), notify: false });
            }
        },
        None => {
            let event_text = input.event.to_string();
            let event = AlarmStateChange::from_value(input.event)?;
            match spike_from(&event, &config.watched, now)? {
                Judgement::Act(spike) => Claim {
                    nat: spike.nat_gateway_id,
                    input: Input::Alarm {
                        at: spike.alarm_at_millis,
                        event: event_text,
                        execution: input.execution_arn.clone(),
                        started_at: rfc3339(now),
                        max_recordings: config.max_recordings,
                    },
                    spike_since_millis: event.evaluated_since_millis(),
                    limit_seconds: config.recording_time_seconds,
                    on_demand: None,
                },
                Judgement::Skip(reason) => {
                    info!(alarm = %event.detail.alarm_name, reason = reason.describe(), "skipped");
                    return Ok(StartOutput::Skip {
                        reason,
                        nat_gateway_id: event.nat_gateway_id().map(str::to_owned),
                        notify: false,
                    });
                }
            }
        }
    };
    let nat = claim.nat.clone();
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
    let (alarm_at, started_at, retried) = match slots.apply(&nat, &claim.input).await?.effect {
        Effect::Start(Start::Record { alarm_at, started_at, retried }) => (alarm_at, started_at, retried),
        Effect::Start(Start::Skip { reason, notify }) => {
            info!(reason = reason.describe(), "skipped");
            // One "not recorded" email per episode, however often its ALARM is delivered.
            let notify = notify && reason == SkipReason::LimitReached && config.notify_limit_reached;
            return Ok(StartOutput::Skip { reason, nat_gateway_id: Some(nat), notify });
        }
        other => return Err(unexpected("StartRecording", &other)),
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
    let mut refused = Vec::new();
    if !missing.is_empty() {
        let (created, not_created) = ec2
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
        let (ours, others) = adopt_our_own(ec2, config, &input.execution_arn, not_created).await?;
        flow_log_ids.extend(ours);
        refused = others;
    }
    // In the slot before any check: StopRecording deletes them even while EC2 does not list
    // them yet, and the sweep knows them.
    let created = Input::Created { execution: input.execution_arn.clone(), flow_log_ids: flow_log_ids.clone() };
    if slots.apply(&nat, &created).await?.effect == Effect::NotOwner {
        return Err(not_owned(&nat, &input.execution_arn));
    }
    if !refused.is_empty() {
        return Err(RecorderError::FlowLogCreationFailed(describe_refusals(&refused)));
    }
    let undeliverable = ec2.failed_deliveries(&flow_log_ids).await?;
    if !undeliverable.is_empty() {
        return Err(RecorderError::FlowLogCreationFailed(describe_refusals(&undeliverable)));
    }
    info!(flow_logs = ?flow_log_ids, interfaces = ?interfaces, "recording");
    let claimed = parse_time("the claim time", &started_at)?;
    Ok(StartOutput::Record {
        recording: Box::new(Recording {
            nat_gateway_id: nat,
            execution_arn: input.execution_arn,
            alarm_at_millis: alarm_at,
            spike_since_millis: claim.spike_since_millis,
            network_interface_ids: interfaces,
            nat_addresses: gateway.private_addresses,
            private_nat: gateway.private,
            flow_log_ids,
            log_group_name: config.log_group_name.clone(),
            timeout_seconds: time_left(claimed, now, claim.limit_seconds),
            record_at_least_until: rfc3339(at_least_until(claimed, config)),
            started_at,
            report_delay_seconds: config.report_delay_seconds,
            on_demand: claim.on_demand,
        }),
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
    let register = Input::Registered { execution: input.execution_arn.clone(), task_token: input.task_token.clone() };
    let outcome = slots.apply(&input.nat_gateway_id, &register).await?;
    match outcome.effect {
        Effect::Nothing => {
            info!("waiting for the alarm to return to OK");
            Ok(RegisterOutput { stored: true, resumed_at_once: false })
        }
        Effect::Resume { task_token, .. } => {
            let ok_at = outcome.slot.ok_seen.unwrap_or_default();
            let resume = task_tokens.resume(&task_token, &alarm_ok_output(ok_at, "token-register")).await?;
            info!(?resume, "the OK came before the token: resumed at once");
            Ok(RegisterOutput { stored: true, resumed_at_once: true })
        }
        Effect::NotOwner => Err(not_owned(&input.nat_gateway_id, &input.execution_arn)),
        other => Err(unexpected("token-register", &other)),
    }
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
    let outcome = slots.apply(&calm.nat_gateway_id, &Input::Ok { at: calm.ok_at_millis }).await?;
    let (execution, token) = match outcome.effect {
        Effect::Resume { execution, task_token } => (execution, task_token),
        Effect::Marked { execution } => {
            info!(%execution, "marked: the recording resumes when its token is stored");
            return Ok(ResolveOutcome::Marked);
        }
        Effect::Nothing => {
            info!("no active recording began before this OK");
            return Ok(ResolveOutcome::NoRecording);
        }
        other => return Err(unexpected("alarm-ok-resolver", &other)),
    };
    match task_tokens.resume(&token, &alarm_ok_output(calm.ok_at_millis, "alarm-ok-resolver")).await? {
        Resume::Resumed => {
            info!(%execution, "resumed");
            Ok(ResolveOutcome::Resumed)
        }
        Resume::AlreadyResolved => {
            info!(%execution, "the wait had already ended");
            Ok(ResolveOutcome::AlreadyResolved)
        }
    }
}

/// StopRecording: delete every flow log of this execution (those it carries, those the slot
/// holds, and those EC2 lists with its tag), then release the slot if this execution still owns
/// it, and start the successor the protocol names (an episode still open). Safe to run again:
/// what is gone stays gone, and the successor's name makes its start happen once.
pub async fn stop_recording(
    config: &StopConfig,
    slots: &SlotTable,
    ec2: &FlowLogs,
    executions: &Executions,
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
    if let Some(owner) = slots.slot(&nat).await?.and_then(|s| s.owner).filter(|o| o.execution == execution) {
        ids.extend(owner.flow_log_ids);
    }
    let (ours, foreign) = owned(ec2.find_by_execution(&execution).await?, &config.ownership, &execution);
    ids.extend(ours.into_iter().map(|f| f.flow_log_id));
    let ids: Vec<String> = ids.into_iter().collect();
    ec2.delete(&ids).await?;
    // A recording whose start failed never captured: it does not use up NumOfRecordings.
    let captured = !(state.recording().is_none() && state.failure.is_some());
    let outcome = slots.apply(&nat, &Input::Stopped { execution: execution.clone(), captured }).await?;
    let released = outcome.effect == Effect::Released;
    if !released {
        warn!("the slot was not owned by this execution any more; left it as it is");
    }
    let successor = match &outcome.successor {
        Some(successor) => Some(executions.start_successor(&execution, &nat, successor).await?.0),
        None => None,
    };
    let ending = state.ending();
    info!(deleted = ?ids, ending = ?ending, ?successor, "stopped");
    Ok(StopOutput {
        nat_gateway_id: nat,
        ending,
        deleted_flow_log_ids: ids,
        foreign_flow_log_ids: foreign,
        stopped_at: rfc3339(now),
        released,
        successor,
    })
}

/// How often the notifier counts the window's records while it waits for them.
const DELIVERY_POLL_SECS: i64 = 30;

/// Whether the recording's records have all reached the log group, or the wait for them is
/// over (`notify::arrival`). `Err`: not yet, ask again in that long, with this poll's census.
/// Flow logs deliver "in about 5 minutes", best effort (VPC User Guide, "Flow logs basics"), so
/// the report waits, for at most `report_delay_seconds` after the stop.
async fn delivery(
    insights: &Insights,
    recording: &Recording,
    stop: &StopOutput,
    previous: Option<&Census>,
    now: DateTime<Utc>,
) -> std::result::Result<Delivery, NotifyOutput> {
    let stopped = DateTime::parse_from_rfc3339(&stop.stopped_at).map(|t| t.with_timezone(&Utc)).unwrap_or(now);
    let started = DateTime::parse_from_rfc3339(&recording.started_at).map(|t| t.to_utc()).unwrap_or(stopped);
    // Up to the stop and no later: a record is stamped with the start of its capture window, so
    // none of this recording's is later than its stop, and a successor's on the same stream
    // (`<eni>-all`) all are; the analysis reads the same window.
    let streams = recording.log_streams();
    let counts =
        match insights.census(&recording.log_group_name, &streams, started.timestamp(), stopped.timestamp()).await {
            Ok(counts) => counts,
            Err(e) => {
                warn!(error = %e, "could not count the window's records; treated as nothing arrived yet");
                Default::default()
            }
        };
    let deadline = stopped + chrono::Duration::seconds(i64::from(recording.report_delay_seconds));
    let stopped_at = stop.stopped_at.clone();
    match arrival(&streams, &counts, previous, stopped, deadline, now) {
        Arrival::Complete { idle } => Ok(Delivery { stopped_at, complete: true, idle }),
        Arrival::GiveUp => Ok(Delivery { stopped_at, complete: false, idle: Vec::new() }),
        Arrival::Wait => {
            let records = counts.into_iter().map(|(stream, count)| (stream, count.records)).collect();
            // Counts as they were before keep the time they were first seen: they have held since
            let at = previous.filter(|p| p.records == records).map_or_else(|| rfc3339(now), |p| p.at.clone());
            let left = (deadline - now).num_seconds().clamp(1, DELIVERY_POLL_SECS);
            Err(NotifyOutput::Wait { retry_in_seconds: left as u32, census: Some(Census { at, records }) })
        }
    }
}

/// Analyses the recorded window with Logs Insights: `Ok` even when it finds nothing yet; `Err`
/// with the reason when a query fails, so the email can say so. The four queries run at once.
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
    if recording.nat_addresses.is_empty() {
        return Err("the NAT Gateway's private addresses are unknown, so its legs cannot be told apart".into());
    }
    let q = queries(&recording.log_streams(), &recording.nat_addresses);
    let group = recording.log_group_name.as_str();
    let (records, private, remote, pairs) = tokio::try_join!(
        insights.query(group, &q.records, start, end),
        insights.query(group, &q.private, start, end),
        insights.query(group, &q.remote, start, end),
        insights.query(group, &q.pairs, start, end),
    )
    .map_err(|e| e.to_string())?;
    analyse(&Answers { records, private, remote, pairs }, price_per_gb)
}

/// The NAT Gateway's meter over the spike (from the first datapoint its alarm evaluated, else
/// the alarm) and over the recording; `Err` with the reason, for the email.
pub async fn read_meter(
    meter: &Meter,
    recording: &Recording,
    stop: &StopOutput,
) -> std::result::Result<Readings, String> {
    let time = |what: &str, text: &str| parse_time(what, text).map_err(|e| e.to_string());
    let started = time("the start", &recording.started_at)?;
    let stopped = time("the stop", &stop.stopped_at)?;
    // A spike is measured at most a day back: 1,440 one-minute datapoints a metric, well inside
    // GetMetricData's 100,800 and the 15 days CloudWatch keeps them (CloudWatch User Guide,
    // "Metrics concepts", retention).
    let since = recording.spike_since_millis.unwrap_or(recording.alarm_at_millis);
    let since = DateTime::from_timestamp_millis(since).unwrap_or(started).max(started - chrono::Duration::days(1));
    meter.read(&recording.nat_gateway_id, since, started, stopped).await.map_err(|e| e.to_string())
}

/// What Notify reads a recording with: the log group, the NAT Gateway's meter, EC2.
#[derive(Debug, Clone, Copy)]
pub struct Sources<'a> {
    pub insights: &'a Insights,
    pub meter: &'a Meter,
    pub ec2: &'a FlowLogs,
    /// The account's alias, where IAM let the notifier read it (the report names it).
    pub account_alias: Option<&'a str>,
}

/// The report's figures: the analysis, the meter, and who holds the talkers' addresses; each
/// `Err` with the reason, which the email says.
struct Figures {
    analysis: std::result::Result<Analysis, String>,
    readings: std::result::Result<Readings, String>,
    workloads: Option<std::result::Result<Workloads, String>>,
}

/// Reads the figures of a recording. The NAT Gateway's addresses are read again and joined to
/// those of the start (an address added while it recorded still tells legs apart); the
/// interfaces that hold the talkers' addresses are looked up now, in the NAT Gateway's VPC.
async fn figures(sources: &Sources<'_>, recording: &Recording, stop: &StopOutput, price_per_gb: f64) -> Figures {
    let nat = &recording.nat_gateway_id;
    let gateway = sources.ec2.nat_gateway(nat).await.map_err(|e| e.to_string());
    let mut recording = recording.clone();
    match &gateway {
        Ok(facts) => {
            let known: BTreeSet<String> =
                recording.nat_addresses.iter().chain(&facts.private_addresses).cloned().collect();
            recording.nat_addresses = known.into_iter().collect();
        }
        Err(reason) => warn!(nat_gateway_id = %nat, %reason, "the NAT Gateway could not be described again"),
    }
    let (analysis, readings) = tokio::join!(
        analyse_recording(sources.insights, &recording, stop, price_per_gb),
        read_meter(sources.meter, &recording, stop)
    );
    if let Err(reason) = &analysis {
        warn!(nat_gateway_id = %nat, %reason, "the analysis failed; the email says so");
    }
    if let Err(reason) = &readings {
        warn!(nat_gateway_id = %nat, %reason, "the meter could not be read; the email says so");
    }
    let talkers: Vec<String> = match &analysis {
        Ok(a) => a.talkers.iter().take(TALKERS_SHOWN).map(|t| t.instance.clone()).collect(),
        Err(_) => Vec::new(),
    };
    let workloads = if talkers.is_empty() {
        None
    } else {
        let found = match gateway.as_ref().map(|g| g.vpc_id.clone()) {
            Ok(Some(vpc)) => {
                let addresses: Vec<String> = talkers.into_iter().chain(recording.nat_addresses.clone()).collect();
                let interfaces = sources.ec2.interfaces_holding(&vpc, &addresses).await.map_err(|e| e.to_string());
                interfaces.map(|found| Workloads::new(&found, &recording.nat_addresses))
            }
            Ok(None) => Err("DescribeNatGateways names no VPC".to_owned()),
            Err(reason) => Err(reason.clone()),
        };
        if let Err(reason) = &found {
            warn!(nat_gateway_id = %nat, %reason, "the workloads could not be looked up; the email says so");
        }
        Some(found)
    };
    Figures { analysis, readings, workloads }
}

/// Notify: email the report of how the recording ended (or of a skip that asks for one).
pub async fn notify(
    config: &NotifierConfig,
    mailer: &Mailer,
    sources: &Sources<'_>,
    input: StateInput,
    now: DateTime<Utc>,
) -> Result<NotifyOutput> {
    let state = input.state;
    let context = ReportContext {
        region: &config.region,
        log_group_name: &config.log_group_name,
        query_name: &config.query_name,
        price_per_gb: config.price_per_gb,
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
            let previous = match &state.notify {
                Some(NotifyOutput::Wait { census, .. }) => census.as_ref(),
                _ => None,
            };
            match delivery(sources.insights, recording, stop, previous, now).await {
                Ok(found) => delivered = Some(found),
                Err(wait) => {
                    info!(nat_gateway_id = %nat, ?wait, "the last records have not all arrived yet");
                    return Ok(wait);
                }
            }
        }
        let figures = match (state.recording(), state.stop.as_ref()) {
            (Some(recording), Some(stop)) => Some(figures(sources, recording, stop, config.price_per_gb).await),
            _ => None,
        };
        let report = Report {
            recording: state.recording(),
            stop: state.stop.as_ref(),
            stop_failure: state.stop_failure.as_ref(),
            nat_gateway_id: &nat,
            analysis: figures.as_ref().map(|f| &f.analysis),
            meter: figures.as_ref().map(|f| &f.readings),
            workloads: figures.as_ref().and_then(|f| f.workloads.as_ref()),
            delivery: delivered.as_ref(),
        };
        compose(&report, &context)
    };
    let origin = Origin {
        account_id: &config.account_id,
        alias: sources.account_alias,
        region: &config.region,
        shared_topic: config.shared_topic,
    };
    let email = origin.stamp(email);
    let message_id = mailer.send(&email).await?;
    info!(subject = %email.subject, "report sent");
    Ok(NotifyOutput::Sent { message_id, subject: email.subject })
}
