//! The sweep: the last line of defence against a flow log left running. It finds every flow log
//! tagged with this stack and deletes each one that belongs to no running, active recording or
//! has lived longer than a recording may; it also releases slots whose execution is gone.

use std::time::Duration;

use serde::Serialize;
use tracing::{error, info, warn};

use crate::config::SweepConfig;
use crate::error::Result;
use crate::flowlogs::{FlowLogs, TaggedFlowLog};
use crate::protocol::{Effect, Input, Slot};
use crate::store::SlotTable;
use crate::tokens::Executions;

/// Why a flow log stays or goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Keep,
    /// On longer than RecordingTime plus the grace period: whatever its state says, too long.
    TooOld,
    /// Its execution has ended (failed, stopped by hand, timed out) or never existed.
    ExecutionNotRunning,
    /// Its NAT Gateway's slot is free or owned by another execution.
    NotTheActiveRecording,
    /// It carries our stack tag but no execution or NAT Gateway tag: nothing can vouch for it.
    Unattributed,
}

/// Decides one flow log's fate. `running` says whether its execution is still running; a flow log
/// younger than `ages.min` is not taken for ended (see [`SweepConfig::min_age`]).
pub fn verdict(log: &TaggedFlowLog, slot: Option<&Slot>, running: bool, now_secs: i64, ages: Ages) -> Verdict {
    let (Some(execution), Some(_)) = (&log.execution_arn, &log.nat_gateway_id) else {
        return Verdict::Unattributed;
    };
    let age = log.created_at_secs.map(|created| now_secs - created);
    if age.is_some_and(|age| age > ages.max.as_secs() as i64) {
        return Verdict::TooOld;
    }
    if !running {
        if age.is_none_or(|age| age < ages.min.as_secs() as i64) {
            return Verdict::Keep;
        }
        return Verdict::ExecutionNotRunning;
    }
    match slot.and_then(|s| s.owner.as_ref()) {
        Some(owner) if owner.execution == *execution => Verdict::Keep,
        _ => Verdict::NotTheActiveRecording,
    }
}

/// How old a flow log may be (at most), and must be before its execution is taken for ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ages {
    pub min: Duration,
    pub max: Duration,
}

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepReport {
    pub kept: Vec<String>,
    /// Flow log id and why it was deleted.
    pub deleted: Vec<(String, Verdict)>,
    /// NAT Gateways whose slot was released because its execution had ended.
    pub released: Vec<String>,
    /// Executions this sweep started for an open episode nobody recorded (a dead owner's, or a
    /// hand-over whose start failed).
    pub successors: Vec<String>,
    /// Flow logs that carry this stack's tags but are not its own: never deleted.
    pub foreign: Vec<String>,
    /// What could not be swept this time, one line each; the others were swept all the same.
    pub errors: Vec<String>,
    /// The alarms put and deleted, when the stack watches every NAT Gateway.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarms: Option<crate::reconcile::AlarmsReport>,
}

/// Asks Step Functions once per execution, however many flow logs and slots name it.
struct RunningCache<'a> {
    executions: &'a Executions,
    known: std::collections::HashMap<String, bool>,
}

impl RunningCache<'_> {
    async fn is_running(&mut self, execution_arn: &str) -> Result<bool> {
        if let Some(known) = self.known.get(execution_arn) {
            return Ok(*known);
        }
        let running = self.executions.is_running(execution_arn).await?;
        self.known.insert(execution_arn.to_owned(), running);
        Ok(running)
    }
}

/// Runs one sweep over the stack's flow logs and slots. One item that fails (a flow log whose
/// execution tag names another state machine, a throttled call) is logged and counted, and the
/// sweep goes on; the report lists what failed.
pub async fn sweep(
    config: &SweepConfig,
    ec2: &FlowLogs,
    slots: &SlotTable,
    executions: &Executions,
    now_secs: i64,
) -> Result<SweepReport> {
    let mut report = SweepReport::default();
    let mut running = RunningCache { executions, known: std::collections::HashMap::new() };
    let (owned, foreign) = config.ownership.split(ec2.find_by_stack(&config.stack_name).await?, &config.executions);
    report.foreign = foreign;
    for log in owned {
        let id = log.flow_log_id.clone();
        if let Err(e) = sweep_flow_log(config, ec2, slots, &mut running, log, now_secs, &mut report).await {
            error!(flow_log = %id, error = %e, "could not sweep a flow log; the next sweep tries again");
            report.errors.push(format!("flow log {id}: {e}"));
        }
    }
    for (nat, slot) in slots.slots().await? {
        match settle_slot(config, slots, executions, &mut running, &nat, slot, now_secs).await {
            Ok(Settled { released, successor }) => {
                if released {
                    warn!(nat_gateway_id = %nat, "released the slot of an execution that is no longer running");
                    report.released.push(nat.clone());
                }
                if let Some(successor) = successor {
                    warn!(nat_gateway_id = %nat, %successor, "started the recording of an open episode nobody recorded");
                    report.successors.push(successor);
                }
            }
            Err(e) => {
                error!(nat_gateway_id = %nat, error = %e, "could not check a slot; the next sweep tries again");
                report.errors.push(format!("slot of {nat}: {e}"));
            }
        }
    }
    Ok(report)
}

async fn sweep_flow_log(
    config: &SweepConfig,
    ec2: &FlowLogs,
    slots: &SlotTable,
    running: &mut RunningCache<'_>,
    log: TaggedFlowLog,
    now_secs: i64,
    report: &mut SweepReport,
) -> Result<()> {
    let is_running = match &log.execution_arn {
        Some(arn) => running.is_running(arn).await?,
        None => false,
    };
    let slot = match &log.nat_gateway_id {
        Some(nat) => slots.slot(nat).await?,
        None => None,
    };
    let ages = Ages { min: config.min_age, max: config.max_age };
    match verdict(&log, slot.as_ref(), is_running, now_secs, ages) {
        Verdict::Keep => report.kept.push(log.flow_log_id),
        reason => {
            ec2.delete(std::slice::from_ref(&log.flow_log_id)).await?;
            info!(flow_log = %log.flow_log_id, nat_gateway_id = ?log.nat_gateway_id, execution = ?log.execution_arn, ?reason, "deleted a stray flow log");
            report.deleted.push((log.flow_log_id, reason));
        }
    }
    Ok(())
}

/// What the sweep did to one slot.
struct Settled {
    released: bool,
    successor: Option<String>,
}

/// Releases the slot of an owner whose execution ended (a slot claimed less than `min_age` ago
/// is left for the next sweep; one whose claim time does not read is old), and starts the
/// successor of an open episode nobody records (a hand-over whose start failed).
async fn settle_slot(
    config: &SweepConfig,
    slots: &SlotTable,
    executions: &Executions,
    running: &mut RunningCache<'_>,
    nat: &str,
    slot: Result<Slot>,
    now_secs: i64,
) -> Result<Settled> {
    let slot = slot?;
    let mut settled = Settled { released: false, successor: None };
    let mut orphan = slot.orphaned_episode();
    if let Some(owner) = &slot.owner {
        let young = chrono::DateTime::parse_from_rfc3339(&owner.started_at)
            .is_ok_and(|t| now_secs - t.timestamp() < config.min_age.as_secs() as i64);
        if young || running.is_running(&owner.execution).await? {
            return Ok(settled);
        }
        let outcome = slots.apply(nat, &Input::Swept { execution: owner.execution.clone() }).await?;
        settled.released = outcome.effect == Effect::Released;
        orphan = outcome.successor;
    }
    if let Some(successor) = orphan {
        // One that was started before (whatever became of it) is not started again
        let (arn, started) = executions.start_successor(&config.state_machine_arn, nat, &successor).await?;
        settled.successor = started.then_some(arn);
    }
    Ok(settled)
}

#[cfg(test)]
mod tests {
    use super::*;

    const AGES: Ages = Ages { min: Duration::from_secs(120), max: Duration::from_secs(3600) };

    fn log(created_at_secs: i64) -> TaggedFlowLog {
        TaggedFlowLog {
            flow_log_id: "fl-1".into(),
            execution_arn: Some("exec-a".into()),
            nat_gateway_id: Some("nat-1".into()),
            created_at_secs: Some(created_at_secs),
            resource_id: Some("eni-1".into()),
            log_group_name: Some("/flowlogs".into()),
            delivery_role_arn: Some("arn:aws:iam::1:role/delivery".into()),
        }
    }

    fn owned_by(execution: &str) -> Slot {
        let owner = crate::protocol::Owner {
            execution: execution.into(),
            alarm_at: 10,
            started_at: "2026-12-06T10:00:00Z".into(),
            flow_log_ids: vec![],
            task_token: None,
            on_demand: false,
        };
        Slot { owner: Some(owner), ..Slot::default() }
    }

    #[test]
    fn the_running_active_recording_keeps_its_flow_log() {
        assert_eq!(verdict(&log(1000), Some(&owned_by("exec-a")), true, 1000 + 60, AGES), Verdict::Keep);
    }

    #[test]
    fn a_flow_log_of_a_stopped_execution_goes() {
        let old_enough = 1000 + 120;
        assert_eq!(
            verdict(&log(1000), Some(&owned_by("exec-a")), false, old_enough, AGES),
            Verdict::ExecutionNotRunning
        );
    }

    #[test]
    fn a_young_flow_log_whose_execution_step_functions_does_not_know_yet_stays() {
        // DescribeExecution may not see an execution started a moment ago
        assert_eq!(verdict(&log(1000), Some(&owned_by("exec-a")), false, 1000 + 119, AGES), Verdict::Keep);
    }

    #[test]
    fn a_flow_log_of_another_recording_goes() {
        assert_eq!(verdict(&log(1000), Some(&owned_by("exec-b")), true, 1060, AGES), Verdict::NotTheActiveRecording);
        assert_eq!(verdict(&log(1000), None, true, 1060, AGES), Verdict::NotTheActiveRecording);
    }

    #[test]
    fn a_flow_log_older_than_a_recording_may_last_goes_whatever_its_state() {
        assert_eq!(verdict(&log(1000), Some(&owned_by("exec-a")), true, 1000 + 3601, AGES), Verdict::TooOld);
        assert_eq!(verdict(&log(1000), Some(&owned_by("exec-a")), true, 1000 + 3600, AGES), Verdict::Keep);
    }

    #[test]
    fn a_flow_log_nothing_vouches_for_goes() {
        let mut stray = log(1000);
        stray.execution_arn = None;
        assert_eq!(verdict(&stray, Some(&owned_by("exec-a")), true, 1060, AGES), Verdict::Unattributed);
    }
}
