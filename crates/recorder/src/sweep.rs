//! The sweep: the last line of defence against a flow log left running. It finds every flow log
//! tagged with this stack and deletes each one that belongs to no running, active recording or
//! has lived longer than a recording may; it also releases slots whose execution is gone.

use std::time::Duration;

use serde::Serialize;
use tracing::{info, warn};

use crate::config::SweepConfig;
use crate::error::Result;
use crate::flowlogs::{FlowLogs, TaggedFlowLog};
use crate::recording::Slot;
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

/// Decides one flow log's fate. `running` says whether its execution is still running.
pub fn verdict(log: &TaggedFlowLog, slot: Option<&Slot>, running: bool, now_secs: i64, max_age: Duration) -> Verdict {
    let (Some(execution), Some(_)) = (&log.execution_arn, &log.nat_gateway_id) else {
        return Verdict::Unattributed;
    };
    if log.created_at_secs.is_some_and(|created| now_secs - created > max_age.as_secs() as i64) {
        return Verdict::TooOld;
    }
    if !running {
        return Verdict::ExecutionNotRunning;
    }
    match slot.and_then(|s| s.active_execution.as_deref()) {
        Some(active) if active == execution => Verdict::Keep,
        _ => Verdict::NotTheActiveRecording,
    }
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
    /// Flow logs that carry this stack's tags but are not its own: never deleted.
    pub foreign: Vec<String>,
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

/// Runs one sweep over the stack's flow logs and slots.
pub async fn sweep(
    config: &SweepConfig,
    ec2: &FlowLogs,
    slots: &SlotTable,
    executions: &Executions,
    now_secs: i64,
) -> Result<SweepReport> {
    let mut report = SweepReport::default();
    let mut running = RunningCache { executions, known: std::collections::HashMap::new() };
    for log in ec2.find_by_stack(&config.stack_name).await? {
        if let Some(why) = config.ownership.foreign_because(&log, &config.executions) {
            warn!(flow_log = %log.flow_log_id, %why, "a flow log carries this stack's tags but is not its own; left alone");
            report.foreign.push(log.flow_log_id);
            continue;
        }
        let is_running = match &log.execution_arn {
            Some(arn) => running.is_running(arn).await?,
            None => false,
        };
        let slot = match &log.nat_gateway_id {
            Some(nat) => slots.slot(nat).await?,
            None => None,
        };
        match verdict(&log, slot.as_ref(), is_running, now_secs, config.max_age) {
            Verdict::Keep => report.kept.push(log.flow_log_id),
            reason => {
                ec2.delete(std::slice::from_ref(&log.flow_log_id)).await?;
                info!(flow_log = %log.flow_log_id, nat_gateway_id = ?log.nat_gateway_id, execution = ?log.execution_arn, ?reason, "deleted a stray flow log");
                report.deleted.push((log.flow_log_id, reason));
            }
        }
    }
    for (nat, slot) in slots.active_slots().await? {
        let Some(execution) = slot.active_execution else { continue };
        if !running.is_running(&execution).await? && slots.release(&nat, &execution).await? {
            warn!(nat_gateway_id = %nat, %execution, "released the slot of an execution that is no longer running");
            report.released.push(nat);
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

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
        Slot { active_execution: Some(execution.into()), ..Slot::default() }
    }

    #[test]
    fn the_running_active_recording_keeps_its_flow_log() {
        assert_eq!(verdict(&log(1000), Some(&owned_by("exec-a")), true, 1000 + 60, HOUR), Verdict::Keep);
    }

    #[test]
    fn a_flow_log_of_a_stopped_execution_goes() {
        assert_eq!(verdict(&log(1000), Some(&owned_by("exec-a")), false, 1060, HOUR), Verdict::ExecutionNotRunning);
    }

    #[test]
    fn a_flow_log_of_another_recording_goes() {
        assert_eq!(verdict(&log(1000), Some(&owned_by("exec-b")), true, 1060, HOUR), Verdict::NotTheActiveRecording);
        assert_eq!(verdict(&log(1000), None, true, 1060, HOUR), Verdict::NotTheActiveRecording);
    }

    #[test]
    fn a_flow_log_older_than_a_recording_may_last_goes_whatever_its_state() {
        assert_eq!(verdict(&log(1000), Some(&owned_by("exec-a")), true, 1000 + 3601, HOUR), Verdict::TooOld);
        assert_eq!(verdict(&log(1000), Some(&owned_by("exec-a")), true, 1000 + 3600, HOUR), Verdict::Keep);
    }

    #[test]
    fn a_flow_log_nothing_vouches_for_goes() {
        let mut stray = log(1000);
        stray.execution_arn = None;
        assert_eq!(verdict(&stray, Some(&owned_by("exec-a")), true, 1060, HOUR), Verdict::Unattributed);
    }
}
