//! Each sequence of the protocol review, played against the transition function: every one of
//! them broke the promise under the three-place protocol this function replaced.

use super::*;

const A: &str = "exec-a";
const B: &str = "exec-b";

fn alarm(at: Millis, execution: &str) -> Input {
    Input::Alarm {
        at,
        event: format!("{{\"at\":{at}}}"),
        execution: execution.into(),
        started_at: format!("start-of-{execution}"),
        max_recordings: 0,
    }
}

fn limited(at: Millis, execution: &str, max_recordings: u32) -> Input {
    match alarm(at, execution) {
        Input::Alarm { at, event, execution, started_at, .. } => {
            Input::Alarm { at, event, execution, started_at, max_recordings }
        }
        _ => unreachable!(),
    }
}

fn registered(execution: &str) -> Input {
    Input::Registered { execution: execution.into(), task_token: format!("token-of-{execution}") }
}

fn stopped(execution: &str) -> Input {
    Input::Stopped { execution: execution.into(), captured: true }
}

/// Applies the inputs in order; returns the last outcome.
fn play(slot: &mut Slot, inputs: &[Input]) -> Outcome {
    let mut last = None;
    for input in inputs {
        let outcome = step(slot, input);
        *slot = outcome.slot.clone();
        last = Some(outcome);
    }
    last.expect("at least one input")
}

fn record(alarm_at: Millis) -> Effect {
    Effect::Start(Start::Record { alarm_at, started_at: "start-of-exec-a".into(), retried: false })
}

fn skipped(reason: SkipReason) -> Effect {
    Effect::Start(Start::Skip { reason, notify: false })
}

fn resume(execution: &str) -> Effect {
    Effect::Resume { execution: execution.into(), task_token: format!("token-of-{execution}") }
}

/// A recording of the episode at `at` by A, waiting for its OK.
fn waiting(at: Millis) -> Slot {
    let mut slot = Slot::default();
    assert_eq!(play(&mut slot, &[alarm(at, A)]).effect, record(at));
    assert_eq!(play(&mut slot, &[registered(A)]).effect, Effect::Nothing);
    slot
}

#[test]
fn h1_an_episode_that_begins_while_the_owner_waits_is_handed_over_when_a_late_ok_ends_the_owner() {
    // R1 records t=10 and waits; the ALARM at t=20 comes first, then the OK at t=15 (late)
    let mut slot = waiting(10);
    assert_eq!(play(&mut slot, &[alarm(20, B)]).effect, skipped(SkipReason::AlreadyRecording));
    assert_eq!(play(&mut slot, &[Input::Ok { at: 15 }]).effect, resume(A));
    // R1 stops: the episode at t=20 is still open, so a successor records it
    let out = play(&mut slot, &[stopped(A)]);
    assert_eq!(out.effect, Effect::Released);
    assert_eq!(out.successor.map(|s| s.alarm_at), Some(20));
    // The successor claims it and is counted; a re-delivery of that ALARM is no second recording
    assert!(matches!(play(&mut slot, &[alarm(20, "successor")]).effect, Effect::Start(Start::Record { .. })));
    assert_eq!(play(&mut slot, &[alarm(20, B)]).effect, skipped(SkipReason::AlreadyRecording));
    assert_eq!(slot.recordings, 2);
}

#[test]
fn h1_an_episode_that_begins_while_the_owner_is_dead_or_stopping_is_handed_over() {
    for release in [Input::Swept { execution: A.into() }, stopped(A)] {
        let mut slot = waiting(10);
        play(&mut slot, &[alarm(20, B)]);
        let out = play(&mut slot, std::slice::from_ref(&release));
        assert_eq!(out.successor.map(|s| s.alarm_at), Some(20), "{release:?}");
    }
}

#[test]
fn h1_an_alarm_after_the_owner_let_go_claims_the_slot() {
    let mut slot = waiting(10);
    play(&mut slot, &[Input::Ok { at: 15 }, stopped(A)]);
    assert!(matches!(play(&mut slot, &[alarm(20, B)]).effect, Effect::Start(Start::Record { retried: false, .. })));
}

#[test]
fn m1_a_late_ok_ends_the_first_recording_and_the_new_episode_gets_a_whole_recording_of_its_own() {
    // RecordingTime runs from each recording's claim: the successor starts a new one
    let mut slot = waiting(0);
    play(&mut slot, &[alarm(180_000, B)]);
    assert_eq!(play(&mut slot, &[Input::Ok { at: 60_000 }]).effect, resume(A));
    assert_eq!(play(&mut slot, &[stopped(A)]).successor.map(|s| s.alarm_at), Some(180_000));
}

#[test]
fn m2_a_redelivered_alarm_of_an_episode_covered_by_the_last_recording_records_nothing() {
    // The review's new-user sequence: ALARM t0, ALARM t2 while recording, OK t3, then t2 again
    let mut slot = waiting(0);
    play(&mut slot, &[alarm(2, B), Input::Ok { at: 3 }]);
    let out = play(&mut slot, &[stopped(A)]);
    assert_eq!(out.successor, None, "t2 opened and closed inside the recording");
    assert_eq!(play(&mut slot, &[alarm(2, "again")]).effect, skipped(SkipReason::DuplicateAlarm));
    assert_eq!(slot.recordings, 1);
}

#[test]
fn m2_an_episode_that_closed_while_the_owner_recorded_its_minimum_is_covered_by_it() {
    let mut slot = waiting(10);
    play(&mut slot, &[Input::Ok { at: 15 }, alarm(20, B), Input::Ok { at: 25 }]);
    assert_eq!(play(&mut slot, &[stopped(A)]).successor, None);
    assert_eq!(slot.recordings, 1);
}

#[test]
fn m2_a_stale_alarm_never_claims_after_a_newer_episode_was_decided() {
    let mut slot = waiting(30);
    play(&mut slot, &[Input::Ok { at: 35 }, stopped(A)]);
    assert_eq!(play(&mut slot, &[alarm(20, B)]).effect, skipped(SkipReason::DuplicateAlarm));
}

#[test]
fn m3_created_flow_logs_are_in_the_slot_before_any_check_and_a_failed_start_gives_its_count_back() {
    let mut slot = Slot::default();
    play(&mut slot, &[alarm(10, A)]);
    let created = Input::Created { execution: A.into(), flow_log_ids: vec!["fl-1".into()] };
    play(&mut slot, &[created.clone(), created]);
    assert_eq!(slot.owner.as_ref().unwrap().flow_log_ids, ["fl-1"]);
    play(&mut slot, &[Input::Stopped { execution: A.into(), captured: false }]);
    assert_eq!((slot.recordings, slot.owner.is_none()), (0, true));
}

#[test]
fn m5_a_successor_follows_however_long_the_owner_holds_the_slot() {
    // No retry budget: nothing polls. The hand-over happens at the owner's stop, whenever that is.
    let mut slot = waiting(10);
    play(&mut slot, &[Input::Ok { at: 15 }, alarm(20, B)]);
    assert_eq!(play(&mut slot, &[stopped(A)]).successor.map(|s| s.alarm_at), Some(20));
}

#[test]
fn l1_a_retried_start_after_its_ok_was_seen_resumes_as_soon_as_the_token_is_stored() {
    let mut slot = Slot::default();
    play(&mut slot, &[Input::Ok { at: 15 }, alarm(10, A)]);
    // An OK of this episode again, before the token: marked, for token-register to act on
    assert_eq!(play(&mut slot, &[Input::Ok { at: 15 }]).effect, Effect::Marked { execution: A.into() });
    let retried = play(&mut slot, &[alarm(10, A)]);
    assert_eq!(
        retried.effect,
        Effect::Start(Start::Record { alarm_at: 10, started_at: "start-of-exec-a".into(), retried: true })
    );
    assert_eq!(play(&mut slot, &[registered(A)]).effect, resume(A));
}

#[test]
fn an_older_alarm_handled_while_a_newer_episode_waits_for_its_successor_records_the_newer_one() {
    let mut slot = waiting(10);
    play(&mut slot, &[alarm(30, B), Input::Swept { execution: A.into() }]);
    let out = play(&mut slot, &[alarm(20, "late")]);
    assert!(matches!(out.effect, Effect::Start(Start::Record { alarm_at: 30, .. })), "{out:?}");
    assert_eq!(out.successor, None);
    assert_eq!(play(&mut slot, &[alarm(30, "successor")]).effect, skipped(SkipReason::AlreadyRecording));
}

#[test]
fn an_episode_that_closes_while_a_dead_owner_holds_the_slot_is_over_when_the_sweep_releases_it() {
    // Found by the model: nothing records while the owner is dead; the sweep hands over only
    // what is still open, and a closed episode is decided, so its late ALARM records nothing
    let mut slot = waiting(10);
    play(&mut slot, &[alarm(110, B), Input::Ok { at: 150 }]);
    let out = play(&mut slot, &[Input::Swept { execution: A.into() }]);
    assert_eq!((out.effect, out.successor), (Effect::Released, None));
    assert_eq!(play(&mut slot, &[alarm(110, "late")]).effect, skipped(SkipReason::DuplicateAlarm));
}

#[test]
fn l2_a_late_ok_never_lowers_what_the_slot_knows() {
    let mut slot = waiting(10);
    play(&mut slot, &[Input::Ok { at: 25 }, Input::Ok { at: 15 }]);
    assert_eq!(slot.ok_seen, Some(25));
}

#[test]
fn an_ok_older_than_the_owners_episode_ends_nothing() {
    let mut slot = waiting(10);
    assert_eq!(play(&mut slot, &[Input::Ok { at: 5 }]).effect, Effect::Nothing);
    assert!(!slot.owner_episode_ended());
}

#[test]
fn the_limit_refuses_a_successor_and_emails_once_per_episode() {
    let mut slot = Slot::default();
    play(&mut slot, &[limited(10, A, 1), registered(A), alarm(20, B), Input::Ok { at: 15 }, stopped(A)]);
    let refused = Effect::Start(Start::Skip { reason: SkipReason::LimitReached, notify: true });
    assert_eq!(play(&mut slot, &[limited(20, "successor", 1)]).effect, refused);
    let out = play(&mut slot, &[limited(20, "again", 1)]);
    assert_eq!(out.effect, skipped(SkipReason::DuplicateAlarm));
    assert_eq!(out.successor, None, "a refused episode is decided");
}

#[test]
fn a_fenced_slot_refuses_claims_and_hands_over_to_nobody() {
    let mut slot = waiting(10);
    play(&mut slot, &[alarm(20, B), Input::Fence]);
    assert_eq!(play(&mut slot, &[stopped(A)]).successor, None);
    assert_eq!(play(&mut slot, &[alarm(30, B)]).effect, skipped(SkipReason::Uninstalling));
}

#[test]
fn a_step_the_store_forgets_it_cannot_take() {
    // Nothing of another execution's: its token, flow logs or release
    let mut slot = waiting(10);
    let other = "exec-z";
    assert_eq!(play(&mut slot, &[registered(other)]).effect, Effect::NotOwner);
    assert_eq!(play(&mut slot, &[stopped(other)]).effect, Effect::NotOwner);
    assert_eq!(play(&mut slot, &[Input::Swept { execution: other.into() }]).effect, Effect::NotOwner);
    let created = Input::Created { execution: other.into(), flow_log_ids: vec![] };
    assert_eq!(play(&mut slot, &[created]).effect, Effect::NotOwner);
    assert_eq!(slot.owner.as_ref().map(|o| o.execution.as_str()), Some(A));
}

#[test]
fn every_input_applied_again_changes_nothing_more() {
    // A step retried after its write (a lost response, a crash) sees its own write
    let inputs = [
        alarm(10, A),
        Input::Created { execution: A.into(), flow_log_ids: vec!["fl-1".into()] },
        registered(A),
        alarm(20, B),
        Input::Ok { at: 15 },
        stopped(A),
        limited(20, "successor", 2),
        Input::Swept { execution: "successor".into() },
    ];
    let mut slot = Slot::default();
    for input in &inputs {
        let once = step(&slot, input);
        let twice = step(&once.slot, input);
        assert_eq!(twice.slot, once.slot, "{input:?}");
        slot = once.slot;
    }
}

#[test]
fn a_far_future_time_in_the_stored_slot_is_forgotten_and_blocks_nothing() {
    // security.md M3: a time written into the item by hand is bounded as an event's is
    let forged = Slot { decided: Some(i64::MAX), ok_seen: Some(i64::MAX), recordings: 1, ..Slot::default() };
    let (slot, forgot) = forged.bounded(1_000);
    assert_eq!(forgot, ["okSeen", "decided"]);
    assert_eq!((slot.decided, slot.ok_seen, slot.recordings), (None, None, 1));
    let mut slot = slot;
    assert_eq!(play(&mut slot, &[alarm(900, A)]).effect, record(900));
    // A time within the bound stays
    let (kept, forgot) = Slot { decided: Some(1_000), ..Slot::default() }.bounded(1_000);
    assert_eq!((kept.decided, forgot.len()), (Some(1_000), 0));
}

fn on_demand(at: Millis, execution: &str) -> Input {
    Input::OnDemand { at, execution: execution.into(), started_at: format!("start-of-{execution}") }
}

#[test]
fn a_recording_on_demand_ends_at_its_time_never_at_an_ok_and_hands_an_open_episode_over() {
    let mut slot = Slot::default();
    assert_eq!(play(&mut slot, &[on_demand(10, A)]).effect, record(10));
    // Retried: the same claim; a second request while it runs is refused politely
    assert!(matches!(play(&mut slot, &[on_demand(10, A)]).effect, Effect::Start(Start::Record { retried: true, .. })));
    assert_eq!(play(&mut slot, &[on_demand(11, B)]).effect, skipped(SkipReason::AlreadyRecording));
    assert_eq!(play(&mut slot, &[registered(A)]).effect, Effect::Nothing);
    // A spike begins: its ALARM is left to the running recording, and an OK of an older episode
    // ends nothing
    assert_eq!(play(&mut slot, &[alarm(20, B)]).effect, skipped(SkipReason::AlreadyRecording));
    assert_eq!(play(&mut slot, &[Input::Ok { at: 15 }]).effect, Effect::Nothing);
    // The recording's time passes: the spike still going on is handed over, and counted then
    let out = play(&mut slot, &[stopped(A)]);
    assert_eq!((out.effect, out.successor.map(|s| s.alarm_at)), (Effect::Released, Some(20)));
    assert_eq!(slot.recordings, 0, "a recording by hand counts against no limit");
    assert!(matches!(play(&mut slot, &[alarm(20, "successor")]).effect, Effect::Start(Start::Record { .. })));
    assert_eq!(slot.recordings, 1);
}

#[test]
fn a_recording_on_demand_is_refused_while_an_alarm_records_and_once_the_stack_is_deleting() {
    let mut slot = waiting(10);
    assert_eq!(play(&mut slot, &[on_demand(12, B)]).effect, skipped(SkipReason::AlreadyRecording));
    // A failed start by hand gives back no count it never took
    let mut free = Slot::default();
    play(&mut free, &[on_demand(5, B), Input::Stopped { execution: B.into(), captured: false }]);
    assert_eq!(free.recordings, 0);
    play(&mut free, &[Input::Fence]);
    assert_eq!(play(&mut free, &[on_demand(30, B)]).effect, skipped(SkipReason::Uninstalling));
}
