//! The recording protocol, model-checked: `stateright` drives the real transition function
//! (`recorder::protocol::step`) through every interleaving of a bounded world of one NAT
//! Gateway. What the world does, each an action the checker may take at any point:
//! - EventBridge delivers each episode's ALARM (a new execution) and OK (the resolver, which
//!   resumes a waiting owner) zero to `deliveries` times, in any order;
//! - each execution runs the state machine's steps one at a time: StartRecording (the claim,
//!   CreateFlowLogs, the write of what it created), token-register, the wait (resumed, or
//!   timed out: RecordingTime), RecordAtLeast, StopRecording (the delete, the release, the
//!   hand-over);
//! - a step may crash after its write and run again (a Lambda retry), or fail for good after
//!   its claim (the Catch into StopRecording), within a budget;
//! - an owner may die (StopFailed, a manual StopExecution), within a budget; the sweep deletes a
//!   dead execution's flow logs, releases its slot and starts the successor of an open episode;
//! - someone may ask for a recording by hand (`make record`), once, at any point: it claims like
//!   an ALARM, ends only at its time (the wait's timeout), and counts against no limit.
//!
//! The store is one versioned cell, so each write is atomic with its read (DynamoDB's
//! conditional put on the version: `store.rs`); the interleavings that matter are between
//! steps, and between a step's side effects and its write. Time is not modelled: RecordingTime
//! is the wait's timeout, an action that may come at any moment.
//!
//! `cargo test --test model` runs the bounded world (two episodes) in `make test`; `make model`
//! runs a deeper one (`MODEL=deep`: three episodes, more crashes) and prints what it explored.

use std::collections::BTreeSet;

use recorder::contract::SkipReason;
use recorder::protocol::{step, Effect, Input, Millis, Outcome, Slot, Start, Successor};
use recorder::tokens::successor_name;
use stateright::{Checker, Model, Property};

const NAT: &str = "nat-1";

/// The bounds of one world.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    episodes: usize,
    /// How often each event may be delivered.
    deliveries: u8,
    /// Steps that crash after their write, or fail for good after the claim.
    crashes: u8,
    /// Owners that die.
    deaths: u8,
    /// NumOfRecordings (0: none).
    limit: u32,
    /// Whether a recording may be asked for by hand.
    on_demand: bool,
}

fn alarm_at(episode: usize) -> Millis {
    100 * episode as Millis + 10
}

fn ok_at(episode: usize) -> Millis {
    100 * episode as Millis + 50
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Pc {
    Start,
    /// Claimed: CreateFlowLogs next, then the write of what it created.
    Create,
    Register,
    Waiting,
    AtLeast,
    /// StopRecording: delete, then release (and hand over).
    Delete,
    Release,
    Done,
    Dead,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Execution {
    name: String,
    /// The ALARM it was started with.
    alarm_at: Millis,
    pc: Pc,
    /// The episode it claimed (ghost).
    claimed: Option<Millis>,
    /// Its start failed: StopRecording gives the count back.
    failed: bool,
    /// It reached the wait: it captured.
    captured: bool,
    /// Ghost: the protocol gave its count back (a start that failed, a dead owner that created
    /// nothing).
    gave_back: bool,
    /// Asked for by hand at `alarm_at`; `held` once it took the slot (it claims no episode).
    on_demand: bool,
    held: bool,
}

impl Execution {
    /// An execution started with the ALARM at `alarm_at`, before its first step.
    fn new(name: String, alarm_at: Millis) -> Self {
        Execution {
            name,
            alarm_at,
            pc: Pc::Start,
            claimed: None,
            failed: false,
            captured: false,
            gave_back: false,
            on_demand: false,
            held: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct World {
    slot: Slot,
    alarms: Vec<u8>,
    oks: Vec<u8>,
    executions: Vec<Execution>,
    /// Executions whose flow logs exist in EC2.
    flow_logs: BTreeSet<usize>,
    crashes: u8,
    deaths: u8,
    /// Ghost: episodes a recording was on for while they were known to have begun (their ALARM)
    /// and ended (their OK, or a later episode's ALARM).
    covered: BTreeSet<usize>,
    /// Ghost: episodes whose ALARM was first handled (StartRecording) after a later episode's
    /// ALARM or its own OK was delivered: the episode was over before it was known.
    stale: BTreeSet<usize>,
    /// Ghost: episodes whose ALARM some StartRecording handled.
    handled: BTreeSet<usize>,
    /// Ghost: episodes refused for NumOfRecordings.
    refused: BTreeSet<Millis>,
    /// Ghost: episodes still waiting for a recording (undecided) when a newer episode's claim
    /// took the NAT Gateway: that recording is the one the hand-over would have started, for the
    /// episode still going on.
    superseded: BTreeSet<usize>,
    /// Ghost: episodes open while a dead owner held the slot: nothing records the NAT Gateway
    /// until the sweep (DESIGN's bound for a dead owner).
    open_while_dead: BTreeSet<usize>,
    /// Ghost: episodes already known to have ended when a recording was asked for by hand; any
    /// other that ends while that recording holds the slot was recorded by it, from the request.
    ended_before_by_hand: BTreeSet<usize>,
    /// Ghost: episodes whose StartRecording found a recording by hand holding the NAT Gateway:
    /// covered if they end while it holds it, to be recorded by a successor if not.
    left_to_by_hand: BTreeSet<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Action {
    DeliverAlarm(usize),
    DeliverOk(usize),
    /// `make record`: an execution asked for by hand, now.
    RequestOnDemand,
    Step(usize),
    /// The step runs, writes, and crashes: it runs again.
    CrashAfterWrite(usize),
    /// StartRecording fails for good after its claim (after creating a flow log, or not).
    FailStart {
        execution: usize,
        created: bool,
    },
    /// The wait times out: RecordingTime.
    Timeout(usize),
    Die(usize),
    Sweep,
}

struct Protocol {
    bounds: Bounds,
}

impl World {
    fn apply(&mut self, input: &Input) -> Outcome {
        let outcome = step(&self.slot, input);
        self.slot = outcome.slot.clone();
        outcome
    }

    fn by_name(&self, name: &str) -> Option<usize> {
        self.executions.iter().position(|e| e.name == name)
    }

    /// Starts the successor the protocol names, unless an execution of that name exists
    /// (StartExecution by name).
    fn hand_over(&mut self, successor: Option<&Successor>) {
        let Some(successor) = successor else { return };
        let name = successor_name(NAT, successor.alarm_at);
        if self.by_name(&name).is_none() {
            self.executions.push(Execution::new(name, successor.alarm_at));
        }
    }

    /// Whether the world has told the recorder that the episode ended: its OK, or any later OK
    /// or ALARM (CloudWatch alternates them), was delivered.
    fn known_ended(&self, episode: usize) -> bool {
        self.oks[episode..].iter().any(|d| *d > 0) || self.alarms[episode + 1..].iter().any(|d| *d > 0)
    }

    fn owner_index(&self) -> Option<usize> {
        self.slot.owner.as_ref().and_then(|o| self.by_name(&o.execution))
    }

    /// The ghost coverage: a recording is on while the episode is known to have opened and
    /// closed.
    fn observe(&mut self) {
        if self.owner_index().is_some_and(|i| self.executions[i].pc == Pc::Dead) {
            for episode in 0..self.alarms.len() {
                if self.handled.contains(&episode) && !self.known_ended(episode) {
                    self.open_while_dead.insert(episode);
                }
            }
        }
        let Some(owner_at) = self.slot.owner.as_ref().map(|o| o.alarm_at) else { return };
        if self.slot.owner.as_ref().is_some_and(|o| o.on_demand) {
            for episode in 0..self.alarms.len() {
                let during = !self.ended_before_by_hand.contains(&episode) || self.left_to_by_hand.contains(&episode);
                if self.alarms[episode] > 0 && self.known_ended(episode) && during {
                    self.covered.insert(episode);
                }
            }
            return;
        }
        for episode in 0..self.alarms.len() {
            if self.alarms[episode] > 0 && self.known_ended(episode) && owner_at <= alarm_at(episode) {
                self.covered.insert(episode);
            }
        }
    }

    fn max_ok_delivered(&self) -> Option<Millis> {
        (0..self.oks.len()).filter(|i| self.oks[*i] > 0).map(ok_at).max()
    }

    fn sweep_has_work(&self) -> bool {
        let dead = |i: &usize| self.executions[*i].pc == Pc::Dead;
        self.flow_logs.iter().any(dead)
            || self.owner_index().is_some_and(|i| dead(&i))
            || self.slot.orphaned_episode().is_some_and(|s| self.by_name(&successor_name(NAT, s.alarm_at)).is_none())
    }

    fn quiescent(&self) -> bool {
        self.executions.iter().all(|e| matches!(e.pc, Pc::Done | Pc::Dead)) && !self.sweep_has_work()
    }
}

impl Protocol {
    /// One step of execution `index`; `crash` runs it and leaves it to run again.
    fn run(&self, world: &mut World, index: usize, crash: bool) {
        let e = world.executions[index].clone();
        let next = match e.pc {
            Pc::Start if e.on_demand => {
                // Now: after every event delivered so far
                let delivered = (0..world.alarms.len())
                    .filter(|i| world.alarms[*i] > 0)
                    .map(alarm_at)
                    .chain((0..world.oks.len()).filter(|i| world.oks[*i] > 0).map(ok_at));
                let now = delivered.max().unwrap_or_default() + 1;
                let input = Input::OnDemand { at: now, execution: e.name.clone(), started_at: "asked".into() };
                match world.apply(&input).effect {
                    Effect::Start(Start::Record { retried, .. }) => {
                        if !retried {
                            world.ended_before_by_hand =
                                (0..world.alarms.len()).filter(|e| world.known_ended(*e)).collect();
                        }
                        world.executions[index].held = true;
                        Pc::Create
                    }
                    Effect::Start(Start::Skip { .. }) => Pc::Done,
                    other => panic!("StartRecording (by hand) got {other:?}"),
                }
            }
            Pc::Start => {
                let episode = ((e.alarm_at - 10) / 100) as usize;
                if world.handled.insert(episode) && world.known_ended(episode) {
                    world.stale.insert(episode);
                }
                let input = Input::Alarm {
                    at: e.alarm_at,
                    event: String::new(),
                    execution: e.name.clone(),
                    started_at: "claimed".into(),
                    max_recordings: self.bounds.limit,
                };
                let undecided_before = world.slot.decided;
                match world.apply(&input).effect {
                    Effect::Start(Start::Record { alarm_at: claimed, retried, .. }) => {
                        if !retried {
                            for earlier in (0..world.alarms.len()).filter(|i| alarm_at(*i) < claimed) {
                                if world.alarms[earlier] > 0 && undecided_before.is_none_or(|d| d < alarm_at(earlier)) {
                                    world.superseded.insert(earlier);
                                }
                            }
                        }
                        world.executions[index].claimed = Some(claimed);
                        Pc::Create
                    }
                    Effect::Start(Start::Skip { reason, .. }) => {
                        // A recording by hand holds the NAT Gateway: it records it at the time
                        // this one would have; an episode still open when it ends is handed over.
                        if reason == SkipReason::AlreadyRecording
                            && world.slot.owner.as_ref().is_some_and(|o| o.on_demand)
                        {
                            world.left_to_by_hand.insert(episode);
                        }
                        if reason == SkipReason::LimitReached {
                            world.refused.insert(world.slot.decided.unwrap_or_default());
                        }
                        Pc::Done
                    }
                    other => panic!("StartRecording got {other:?}"),
                }
            }
            Pc::Create => {
                world.flow_logs.insert(index);
                let created = Input::Created { execution: e.name.clone(), flow_log_ids: vec![format!("fl-{index}")] };
                match world.apply(&created).effect {
                    Effect::NotOwner => {
                        world.executions[index].failed = true;
                        Pc::Delete
                    }
                    _ => Pc::Register,
                }
            }
            Pc::Register => {
                world.executions[index].captured = true;
                let input = Input::Registered { execution: e.name.clone(), task_token: e.name.clone() };
                match world.apply(&input).effect {
                    Effect::Resume { .. } => Pc::AtLeast,
                    Effect::Nothing => Pc::Waiting,
                    _ => Pc::Delete,
                }
            }
            Pc::Waiting => Pc::Waiting,
            Pc::AtLeast => Pc::Delete,
            Pc::Delete => {
                world.flow_logs.remove(&index);
                Pc::Release
            }
            Pc::Release => {
                let outcome = world.apply(&Input::Stopped { execution: e.name.clone(), captured: !e.failed });
                if outcome.effect == Effect::Released && e.failed {
                    world.executions[index].gave_back = true;
                }
                world.hand_over(outcome.successor.as_ref());
                Pc::Done
            }
            Pc::Done | Pc::Dead => e.pc,
        };
        if !crash {
            world.executions[index].pc = next;
        }
    }
}

/// The steps whose write a crash may follow (the others write nothing, or are the wait).
fn writes(pc: Pc) -> bool {
    matches!(pc, Pc::Start | Pc::Create | Pc::Register | Pc::Release)
}

impl Model for Protocol {
    type State = World;
    type Action = Action;

    fn init_states(&self) -> Vec<World> {
        let n = self.bounds.episodes;
        vec![World {
            slot: Slot::default(),
            alarms: vec![0; n],
            oks: vec![0; n],
            executions: Vec::new(),
            flow_logs: BTreeSet::new(),
            crashes: self.bounds.crashes,
            deaths: self.bounds.deaths,
            covered: BTreeSet::new(),
            stale: BTreeSet::new(),
            handled: BTreeSet::new(),
            open_while_dead: BTreeSet::new(),
            superseded: BTreeSet::new(),
            refused: BTreeSet::new(),
            ended_before_by_hand: BTreeSet::new(),
            left_to_by_hand: BTreeSet::new(),
        }]
    }

    fn actions(&self, world: &World, actions: &mut Vec<Action>) {
        for episode in 0..self.bounds.episodes {
            if world.alarms[episode] < self.bounds.deliveries {
                actions.push(Action::DeliverAlarm(episode));
            }
            if world.oks[episode] < self.bounds.deliveries {
                actions.push(Action::DeliverOk(episode));
            }
        }
        for (index, e) in world.executions.iter().enumerate() {
            match e.pc {
                Pc::Done | Pc::Dead => continue,
                Pc::Waiting => actions.push(Action::Timeout(index)),
                pc => {
                    actions.push(Action::Step(index));
                    if world.crashes > 0 && writes(pc) {
                        actions.push(Action::CrashAfterWrite(index));
                    }
                    if world.crashes > 0 && pc == Pc::Create {
                        actions.push(Action::FailStart { execution: index, created: false });
                        actions.push(Action::FailStart { execution: index, created: true });
                    }
                }
            }
            if world.deaths > 0 && (e.claimed.is_some() || e.held) {
                actions.push(Action::Die(index));
            }
        }
        if self.bounds.on_demand && !world.executions.iter().any(|e| e.on_demand) {
            actions.push(Action::RequestOnDemand);
        }
        if world.sweep_has_work() {
            actions.push(Action::Sweep);
        }
    }

    fn next_state(&self, last: &World, action: Action) -> Option<World> {
        let mut world = last.clone();
        match action {
            Action::DeliverAlarm(episode) => {
                world.alarms[episode] += 1;
                let name = format!("e{}", world.executions.len());
                world.executions.push(Execution::new(name, alarm_at(episode)));
            }
            Action::DeliverOk(episode) => {
                world.oks[episode] += 1;
                if let Effect::Resume { execution, .. } = world.apply(&Input::Ok { at: ok_at(episode) }).effect {
                    let index = world.by_name(&execution).expect("the owner exists");
                    if world.executions[index].pc == Pc::Waiting {
                        world.executions[index].pc = Pc::AtLeast;
                    }
                }
            }
            Action::RequestOnDemand => {
                let mut execution = Execution::new("by-hand".into(), 0);
                execution.on_demand = true;
                world.executions.push(execution);
            }
            Action::Step(index) => self.run(&mut world, index, false),
            Action::CrashAfterWrite(index) => {
                world.crashes -= 1;
                self.run(&mut world, index, true);
            }
            Action::FailStart { execution, created } => {
                world.crashes -= 1;
                if created {
                    world.flow_logs.insert(execution);
                }
                world.executions[execution].failed = true;
                world.executions[execution].pc = Pc::Delete;
            }
            Action::Timeout(index) => world.executions[index].pc = Pc::Delete,
            Action::Die(index) => {
                world.deaths -= 1;
                world.executions[index].pc = Pc::Dead;
            }
            Action::Sweep => {
                let dead: Vec<usize> =
                    world.flow_logs.iter().copied().filter(|i| world.executions[*i].pc == Pc::Dead).collect();
                for index in dead {
                    world.flow_logs.remove(&index);
                }
                let successor = match world.owner_index().filter(|i| world.executions[*i].pc == Pc::Dead) {
                    Some(index) => {
                        let name = world.executions[index].name.clone();
                        // An episode still open now is the successor's to record: no excuse
                        let open: Vec<usize> =
                            world.open_while_dead.iter().copied().filter(|e| !world.known_ended(*e)).collect();
                        for episode in open {
                            world.open_while_dead.remove(&episode);
                        }
                        let created = world.slot.owner.as_ref().is_some_and(|o| !o.flow_log_ids.is_empty());
                        world.executions[index].gave_back = !created;
                        world.apply(&Input::Swept { execution: name }).successor
                    }
                    None => world.slot.orphaned_episode(),
                };
                world.hand_over(successor.as_ref());
            }
        }
        world.observe();
        Some(world)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always(
                "at most one recording's flow logs at a time, and only the owner's",
                |_: &Protocol, w: &World| {
                    w.flow_logs.len() <= 1
                        && w.flow_logs
                            .iter()
                            .all(|i| w.slot.owner.as_ref().is_some_and(|o| o.execution == w.executions[*i].name))
                },
            ),
            Property::always("NumOfRecordings is never exceeded", |m: &Protocol, w: &World| {
                m.bounds.limit == 0 || w.slot.recordings <= m.bounds.limit
            }),
            Property::always("the count is the claims, less those that captured nothing", |_: &Protocol, w: &World| {
                let kept = w.executions.iter().filter(|e| e.claimed.is_some() && !e.gave_back).count();
                w.slot.recordings as usize == kept
            }),
            Property::always("a start that failed is not counted once it let go", |_: &Protocol, w: &World| {
                w.executions.iter().all(|e| !(e.failed && e.pc == Pc::Done && e.claimed.is_some()) || e.gave_back)
            }),
            Property::always("no episode is recorded twice", |_: &Protocol, w: &World| {
                let claimed: Vec<Millis> = w.executions.iter().filter_map(|e| e.claimed).collect();
                claimed.iter().collect::<BTreeSet<_>>().len() == claimed.len()
            }),
            Property::always("no wait outlives an OK of its episode (no lost wake-up)", |_: &Protocol, w: &World| {
                w.executions
                    .iter()
                    .all(|e| e.pc != Pc::Waiting || e.claimed.zip(w.max_ok_delivered()).is_none_or(|(at, ok)| ok <= at))
            }),
            Property::always(
                "at quiescence no flow log is left and nobody owns the slot",
                |_: &Protocol, w: &World| !w.quiescent() || (w.flow_logs.is_empty() && w.slot.owner.is_none()),
            ),
            Property::always(
                "at quiescence every episode known in time was recorded or covered",
                |m: &Protocol, w: &World| {
                    !w.quiescent()
                        || (0..m.bounds.episodes).all(|i| {
                            w.alarms[i] == 0
                                || w.stale.contains(&i)
                                || w.open_while_dead.contains(&i)
                                || w.superseded.contains(&i)
                                || w.covered.contains(&i)
                                || w.executions.iter().any(|e| e.claimed == Some(alarm_at(i)))
                                || w.refused.iter().any(|r| *r >= alarm_at(i))
                        })
                },
            ),
            Property::always("a recording by hand is never resumed by an OK", |_: &Protocol, w: &World| {
                w.executions.iter().all(|e| !(e.on_demand && e.pc == Pc::AtLeast))
            }),
            Property::sometimes("a hand-over happens", |_: &Protocol, w: &World| {
                w.executions.iter().any(|e| e.name.starts_with("handover-"))
            }),
            Property::sometimes("an episode is covered by the recording it began in", |_: &Protocol, w: &World| {
                w.covered.iter().any(|i| !w.executions.iter().any(|e| e.claimed == Some(alarm_at(*i))))
            }),
        ]
    }
}

/// Explores every state of the world; `deep` depth-first, whose memory is the states seen
/// rather than a breadth-first frontier.
fn check(bounds: Bounds, deep: bool) -> usize {
    let builder = Protocol { bounds }.checker().threads(2);
    if deep {
        report(bounds, builder.spawn_dfs().join())
    } else {
        report(bounds, builder.spawn_bfs().join())
    }
}

fn report(bounds: Bounds, checker: impl Checker<Protocol>) -> usize {
    eprintln!(
        "model {bounds:?}: {} states explored, {} unique, max depth {}",
        checker.state_count(),
        checker.unique_state_count(),
        checker.max_depth()
    );
    checker.assert_properties();
    checker.unique_state_count()
}

/// `make model` sets `MODEL=deep`.
fn deep() -> bool {
    std::env::var("MODEL").is_ok_and(|m| m == "deep")
}

#[test]
fn every_interleaving_of_two_episodes_delivered_up_to_twice_keeps_the_promise() {
    let crashes = if deep() { 2 } else { 1 };
    let bounds = Bounds { episodes: 2, deliveries: 2, crashes, deaths: 1, limit: 0, on_demand: false };
    assert!(check(bounds, deep()) > 1_000_000, "the model explored too little to mean anything");
}

#[test]
fn every_interleaving_with_a_recording_asked_for_by_hand_keeps_the_promise() {
    let limit = 1;
    let bounds = Bounds { episodes: 2, deliveries: 1, crashes: 1, deaths: 1, limit, on_demand: true };
    assert!(check(bounds, deep()) > 10_000, "the model explored too little to mean anything");
}

#[test]
fn every_interleaving_under_a_limit_keeps_the_promise() {
    let episodes = if deep() { 3 } else { 2 };
    let bounds = Bounds { episodes, deliveries: 1, crashes: 1, deaths: 1, limit: 1, on_demand: false };
    assert!(check(bounds, deep()) > 1_000);
}

#[test]
fn every_interleaving_of_three_episodes_delivered_once_keeps_the_promise() {
    if !deep() {
        eprintln!("three episodes: `make model`");
        return;
    }
    let bounds = Bounds { episodes: 3, deliveries: 1, crashes: 1, deaths: 1, limit: 0, on_demand: false };
    assert!(check(bounds, true) > 1_000_000);
}
