//! The per-NAT Gateway protocol, written once: the slot's state and one pure function,
//! [`step`], that every step of the workflow and the sweep send their input through. The store
//! (`store::SlotTable::apply`) reads the slot, calls it, and writes the result conditioned on
//! the version it read; nothing here knows about DynamoDB, and no decision lives in a condition
//! expression. `tests/model.rs` drives this function through every interleaving of a bounded
//! world with the `stateright` model checker.
//!
//! An episode is an ALARM state timestamp of the NAT Gateway's alarm; it ends at the next OK by
//! state timestamp. The slot remembers the latest of each it has seen (never lowered), so what
//! a step does depends on what the slot knows, not on which event came last:
//! - an ALARM newer than every episode decided so far claims the slot if it is free, and is left
//!   to the owner if not: the owner records it, and when the owner stops while that episode is
//!   still open (no OK after it known), it hands the NAT Gateway over to a successor for it;
//! - the owner's recording ends once an OK later than its own ALARM is known; an OK older than
//!   the owner's ALARM ends nothing.

use serde::{Deserialize, Serialize};

use crate::contract::SkipReason;

/// A state timestamp of the alarm, in milliseconds since the epoch.
pub type Millis = i64;

/// The recording slot of one NAT Gateway: everything the protocol knows about it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Slot {
    /// The latest ALARM seen, whoever handled it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_seen: Option<Millis>,
    /// That ALARM's event (JSON text): what a successor execution is started with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_event: Option<String>,
    /// The latest OK seen, whatever it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok_seen: Option<Millis>,
    /// The latest episode decided: recorded, covered by a running recording, or refused. An
    /// ALARM at or before it is a duplicate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    /// Recordings counted against NumOfRecordings.
    #[serde(default)]
    pub recordings: u32,
    /// The episode whose "not recorded, the limit is reached" email went out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_notice: Option<Millis>,
    /// The stack is being deleted: nothing claims the slot any more.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fenced: bool,
}

/// The execution recording the NAT Gateway now.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Owner {
    pub execution: String,
    /// The episode it was claimed for.
    pub alarm_at: Millis,
    /// RFC 3339: when it claimed the slot; a retried start keeps it.
    pub started_at: String,
    /// Every flow log it created, written right after CreateFlowLogs and before any check.
    #[serde(default)]
    pub flow_log_ids: Vec<String>,
    /// The task token of its wait, once token-register stored it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_token: Option<String>,
    /// A recording asked for by hand: it ends at its time, never at an OK, and counts against
    /// no limit. `alarm_at` is then the time it was asked for.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub on_demand: bool,
}

/// What happened, as one step reports it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Input {
    /// StartRecording handles an ALARM (`event` is its JSON text) for `execution`.
    Alarm { at: Millis, event: String, execution: String, started_at: String, max_recordings: u32 },
    /// StartRecording handles a recording asked for by hand at `at`, for `execution`.
    OnDemand { at: Millis, execution: String, started_at: String },
    /// The resolver handles an OK.
    Ok { at: Millis },
    /// StartRecording created these flow logs (before it checks them).
    Created { execution: String, flow_log_ids: Vec<String> },
    /// token-register stores the wait's token.
    Registered { execution: String, task_token: String },
    /// StopRecording deleted the execution's flow logs; `captured` is false for a start that
    /// failed, which gives its count back.
    Stopped { execution: String, captured: bool },
    /// The sweep found that the owner's execution is not running any more, and deleted its flow
    /// logs.
    Swept { execution: String },
    /// Uninstall: no claim from now on.
    Fence,
}

/// What StartRecording does with an ALARM.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Start {
    /// Record the episode at `alarm_at`: this execution owns the slot. `retried` when it already
    /// did (a retried start).
    Record { alarm_at: Millis, started_at: String, retried: bool },
    /// Do not record; `notify` when this is the one "limit reached" email of the episode.
    Skip { reason: SkipReason, notify: bool },
}

/// What the step must do after the write.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Effect {
    Start(Start),
    /// Resume the owner's wait: its episode has ended.
    Resume {
        execution: String,
        task_token: String,
    },
    /// An OK that ends the owner's episode before its token is stored: token-register resumes
    /// the wait the moment it stores it.
    Marked {
        execution: String,
    },
    /// The input changed nothing the owner waits for.
    Nothing,
    /// The execution does not own the slot (any more): it must not record.
    NotOwner,
    /// The slot was released by (or for) this execution.
    Released,
}

/// The new slot, what the step does, and the ALARM event a successor execution must be started
/// with (an episode still open that nobody records).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Outcome {
    pub slot: Slot,
    pub effect: Effect,
    pub successor: Option<Successor>,
}

/// An open episode nobody records: start an execution for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Successor {
    pub alarm_at: Millis,
    pub event: String,
}

fn later(known: Option<Millis>, at: Millis) -> Option<Millis> {
    Some(known.map_or(at, |k| k.max(at)))
}

impl Slot {
    /// Whether an OK later than the owner's episode is known: its recording ends. A recording
    /// asked for by hand has no episode to end.
    pub fn owner_episode_ended(&self) -> bool {
        self.owner.as_ref().is_some_and(|o| !o.on_demand && self.ok_seen.is_some_and(|ok| ok > o.alarm_at))
    }

    /// An open episode that nobody records and nothing refused: it needs an execution.
    pub fn orphaned_episode(&self) -> Option<Successor> {
        let at = self.alarm_seen?;
        let undecided = self.decided.is_none_or(|d| at > d);
        let open = self.ok_seen.is_none_or(|ok| at > ok);
        (self.owner.is_none() && !self.fenced && undecided && open)
            .then(|| Successor { alarm_at: at, event: self.alarm_event.clone().unwrap_or_default() })
    }

    fn owned_by(&self, execution: &str) -> Option<&Owner> {
        self.owner.as_ref().filter(|o| o.execution == execution)
    }

    /// Lets the owner go. An episode that began while it recorded is covered if its OK is known
    /// (it opened and closed inside this recording); otherwise it stays undecided, and
    /// [`Slot::orphaned_episode`] names it for a successor.
    fn release(&mut self, uncount: bool) {
        let Some(owner) = self.owner.take() else { return };
        if uncount && !owner.on_demand {
            self.recordings = self.recordings.saturating_sub(1);
        }
        if let Some(seen) = self.alarm_seen.filter(|seen| *seen > owner.alarm_at) {
            if self.ok_seen.is_some_and(|ok| ok > seen) {
                self.decided = later(self.decided, seen);
            }
        }
    }

    /// The slot with every time later than `latest` (now plus the clock skew an event may have)
    /// forgotten, and the names of those it forgot. Only a forged or broken item holds one: a
    /// far-future `decided` would make every genuine ALARM a duplicate, a far-future `okSeen`
    /// would end every recording at once. An owner's episode is capped instead, so the owner
    /// keeps its flow logs and ends at the next OK.
    pub fn bounded(mut self, latest: Millis) -> (Slot, Vec<&'static str>) {
        let mut forgot = Vec::new();
        for (name, time) in [
            ("alarmSeen", &mut self.alarm_seen),
            ("okSeen", &mut self.ok_seen),
            ("decided", &mut self.decided),
            ("limitNotice", &mut self.limit_notice),
        ] {
            if time.is_some_and(|t| t > latest) {
                *time = None;
                forgot.push(name);
            }
        }
        if self.alarm_seen.is_none() {
            self.alarm_event = None;
        }
        if let Some(owner) = self.owner.as_mut().filter(|o| o.alarm_at > latest) {
            owner.alarm_at = latest;
            forgot.push("owner.alarmAt");
        }
        (self, forgot)
    }
}

/// The protocol: the slot as it is, and one input, give the slot as it must be written and what
/// the step must do. Pure, total and idempotent: the same input applied twice (a step retried
/// after its write) changes nothing more and asks for the same effect.
pub fn step(slot: &Slot, input: &Input) -> Outcome {
    let mut next = slot.clone();
    let effect = match input {
        Input::Alarm { at, event, execution, started_at, max_recordings } => {
            if next.alarm_seen.is_none_or(|seen| *at > seen) {
                next.alarm_seen = Some(*at);
                next.alarm_event = Some(event.clone());
            }
            Effect::Start(alarm(&mut next, *at, execution, started_at, *max_recordings))
        }
        Input::OnDemand { at, execution, started_at } => {
            Effect::Start(on_demand(&mut next, *at, execution, started_at))
        }
        Input::Ok { at } => {
            next.ok_seen = later(next.ok_seen, *at);
            match &next.owner {
                // This OK ends the owner's episode (a later one may have already).
                Some(owner) if !owner.on_demand && *at > owner.alarm_at => match &owner.task_token {
                    Some(token) => Effect::Resume { execution: owner.execution.clone(), task_token: token.clone() },
                    None => Effect::Marked { execution: owner.execution.clone() },
                },
                _ => Effect::Nothing,
            }
        }
        Input::Created { execution, flow_log_ids } => match next.owner.as_mut() {
            Some(owner) if owner.execution == *execution => {
                for id in flow_log_ids {
                    if !owner.flow_log_ids.contains(id) {
                        owner.flow_log_ids.push(id.clone());
                    }
                }
                Effect::Nothing
            }
            _ => Effect::NotOwner,
        },
        Input::Registered { execution, task_token } => {
            let ended = next.owner_episode_ended();
            match next.owner.as_mut() {
                Some(owner) if owner.execution == *execution => {
                    owner.task_token = Some(task_token.clone());
                    if ended {
                        Effect::Resume { execution: execution.clone(), task_token: task_token.clone() }
                    } else {
                        Effect::Nothing
                    }
                }
                _ => Effect::NotOwner,
            }
        }
        Input::Stopped { execution, captured } => {
            if next.owned_by(execution).is_some() {
                next.release(!captured);
                Effect::Released
            } else {
                Effect::NotOwner
            }
        }
        Input::Swept { execution } => match next.owned_by(execution) {
            Some(owner) => {
                // A dead owner that created nothing captured nothing.
                let uncount = owner.flow_log_ids.is_empty();
                next.release(uncount);
                Effect::Released
            }
            None => Effect::NotOwner,
        },
        Input::Fence => {
            next.fenced = true;
            Effect::Nothing
        }
    };
    let successor = next.orphaned_episode();
    Outcome { slot: next, effect, successor }
}

/// An ALARM at `at` for `execution`, once the slot has seen it.
fn alarm(slot: &mut Slot, at: Millis, execution: &str, started_at: &str, max_recordings: u32) -> Start {
    let skip = |reason| Start::Skip { reason, notify: false };
    if let Some(owner) = slot.owned_by(execution) {
        return Start::Record { alarm_at: owner.alarm_at, started_at: owner.started_at.clone(), retried: true };
    }
    if slot.owner.is_some() {
        // The owner records it; if it is still open when the owner stops, the owner hands over.
        return skip(SkipReason::AlreadyRecording);
    }
    if slot.decided.is_some_and(|d| at <= d) {
        return skip(SkipReason::DuplicateAlarm);
    }
    if slot.fenced {
        return skip(SkipReason::Uninstalling);
    }
    // The latest episode seen: an older ALARM handled after a newer one (a hand-over not yet
    // started) records the newer one, which is the one still going on.
    let episode = slot.alarm_seen.map_or(at, |seen| seen.max(at));
    if max_recordings > 0 && slot.recordings >= max_recordings {
        slot.decided = Some(episode);
        let notify = slot.limit_notice.is_none_or(|n| episode > n);
        slot.limit_notice = later(slot.limit_notice, episode);
        return Start::Skip { reason: SkipReason::LimitReached, notify };
    }
    slot.decided = Some(episode);
    slot.recordings += 1;
    slot.owner = Some(Owner {
        execution: execution.to_owned(),
        alarm_at: episode,
        started_at: started_at.to_owned(),
        flow_log_ids: Vec::new(),
        task_token: None,
        on_demand: false,
    });
    Start::Record { alarm_at: episode, started_at: started_at.to_owned(), retried: false }
}

/// A recording asked for by hand at `at` (now) for `execution`: it takes a free slot, and decides
/// and counts nothing, so an episode that opens meanwhile is still recorded, by a successor once
/// it ends (see [`Slot::release`]).
fn on_demand(slot: &mut Slot, at: Millis, execution: &str, started_at: &str) -> Start {
    if let Some(owner) = slot.owned_by(execution) {
        return Start::Record { alarm_at: owner.alarm_at, started_at: owner.started_at.clone(), retried: true };
    }
    let skip = |reason| Start::Skip { reason, notify: false };
    if slot.owner.is_some() {
        return skip(SkipReason::AlreadyRecording);
    }
    if slot.fenced {
        return skip(SkipReason::Uninstalling);
    }
    // An open episode nobody records has a successor starting (a hand-over, or the sweep's): it
    // takes the NAT Gateway. Were this to take it first, that successor would be refused, and
    // once this ends the same episode would need a successor of the same name.
    if slot.orphaned_episode().is_some() {
        return skip(SkipReason::RecordingStarting);
    }
    slot.owner = Some(Owner {
        execution: execution.to_owned(),
        alarm_at: at,
        started_at: started_at.to_owned(),
        flow_log_ids: Vec::new(),
        task_token: None,
        on_demand: true,
    });
    Start::Record { alarm_at: at, started_at: started_at.to_owned(), retried: false }
}

#[cfg(test)]
mod tests;
