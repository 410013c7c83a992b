//! The decisions of the workflow, as plain functions over plain types: no SDK type comes in here.

use chrono::{DateTime, Utc};

use crate::contract::SkipReason;
use crate::error::Result;
use crate::event::{is_nat_gateway_id, AlarmStateChange, AlarmValue, NAT_GATEWAY_DIMENSION};

/// How far past now an alarm's state timestamp may be (clock skew); a later one is refused, or a
/// forged far-future ALARM would make every genuine one look like a duplicate of it.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;

/// Which alarm events are this stack's: alarms named `<alarm_name_prefix><nat id>` about one of
/// the NAT Gateways the stack watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watched {
    pub alarm_name_prefix: String,
    pub nat_gateways: NatGateways,
}

/// The NAT Gateways a stack watches: the deploy-time list the alarms macro wrote, or all of the
/// Region's, whose alarms the sweeper keeps (recorder::alarms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NatGateways {
    Listed(Vec<String>),
    All,
}

impl NatGateways {
    pub fn contains(&self, nat_gateway_id: &str) -> bool {
        match self {
            Self::Listed(ids) => ids.iter().any(|id| id == nat_gateway_id),
            Self::All => true,
        }
    }
}

/// What to do with an alarm event: act on it, or skip it for a reason (which is no error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement<T> {
    Act(T),
    Skip(SkipReason),
}

impl<T> Judgement<T> {
    fn map<U>(self, f: impl FnOnce(T) -> U) -> Judgement<U> {
        match self {
            Self::Act(value) => Judgement::Act(f(value)),
            Self::Skip(reason) => Judgement::Skip(reason),
        }
    }
}

/// An ALARM that may start a recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spike {
    pub nat_gateway_id: String,
    pub alarm_at_millis: i64,
}

/// A recording asked for by hand, once checked as an ALARM is: a well-formed id of a NAT Gateway
/// the stack watches, for 1 minute up to RecordingTime. Returns it with its length in seconds.
pub fn by_hand(
    request: &crate::contract::OnDemand,
    watched: &Watched,
    recording_time_seconds: u32,
) -> crate::Result<Judgement<u32>> {
    let invalid = |problem: String| Err(crate::RecorderError::InvalidInput(problem));
    let nat = &request.nat_gateway_id;
    if !is_nat_gateway_id(nat) {
        return invalid(format!(
            "natGatewayId {:?} is not a NAT Gateway id (nat- and 8 or 17 hex digits)",
            crate::notify::printable(nat, 40)
        ));
    }
    let most = recording_time_seconds / 60;
    if request.minutes == 0 || request.minutes > most {
        return invalid(format!("minutes {} is not from 1 to {most} (RecordingTime allows {most})", request.minutes));
    }
    if let Some(by) = request.requested_by.as_deref().filter(|by| by.chars().count() > 256) {
        return invalid(format!("requestedBy is {} characters long, more than 256", by.chars().count()));
    }
    if !watched.nat_gateways.contains(nat) {
        return Ok(Judgement::Skip(SkipReason::NotWatched));
    }
    Ok(Judgement::Act(request.minutes * 60))
}

/// An OK that may end a recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calm {
    pub nat_gateway_id: String,
    pub ok_at_millis: i64,
}

/// Checks that the event is ours, about a NAT Gateway we watch, and entering `expected`.
fn belongs_to_us(
    event: &AlarmStateChange,
    watched: &Watched,
    expected: AlarmValue,
    now: DateTime<Utc>,
) -> Result<Judgement<(String, i64)>> {
    let name = &event.detail.alarm_name;
    if !name.starts_with(&watched.alarm_name_prefix) {
        return Ok(Judgement::Skip(SkipReason::NotOurAlarm));
    }
    if event.state()? != expected {
        return Ok(Judgement::Skip(SkipReason::NotAnAlarm));
    }
    let Some(nat) = event.nat_gateway_id() else {
        return Ok(Judgement::Skip(SkipReason::NoNatGateway));
    };
    // Every metric that names a NAT Gateway names the same one, and the alarm is named after it.
    let named: Vec<&str> = event
        .detail
        .configuration
        .metrics
        .iter()
        .filter_map(|m| m.metric_stat.as_ref()?.metric.dimensions.get(NAT_GATEWAY_DIMENSION).map(|d| d.trim()))
        .collect();
    if !is_nat_gateway_id(nat)
        || named.iter().any(|other| *other != nat)
        || name.strip_prefix(&watched.alarm_name_prefix) != Some(nat)
    {
        return Ok(Judgement::Skip(SkipReason::NotOurAlarm));
    }
    if !watched.nat_gateways.contains(nat) {
        return Ok(Judgement::Skip(SkipReason::NotWatched));
    }
    let at = event.state_timestamp_millis()?;
    if at > (now + chrono::Duration::seconds(MAX_CLOCK_SKEW_SECS)).timestamp_millis() {
        return Ok(Judgement::Skip(SkipReason::FutureTimestamp));
    }
    Ok(Judgement::Act((nat.to_owned(), at)))
}

/// May this event start a recording?
pub fn spike_from(event: &AlarmStateChange, watched: &Watched, now: DateTime<Utc>) -> Result<Judgement<Spike>> {
    Ok(belongs_to_us(event, watched, AlarmValue::Alarm, now)?
        .map(|(nat_gateway_id, alarm_at_millis)| Spike { nat_gateway_id, alarm_at_millis }))
}

/// May this event end a recording?
pub fn calm_from(event: &AlarmStateChange, watched: &Watched, now: DateTime<Utc>) -> Result<Judgement<Calm>> {
    Ok(belongs_to_us(event, watched, AlarmValue::Ok, now)?
        .map(|(nat_gateway_id, ok_at_millis)| Calm { nat_gateway_id, ok_at_millis }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::fixture;

    fn watched() -> Watched {
        Watched {
            alarm_name_prefix: "nat-recorder.NatGatewaySpike.".into(),
            nat_gateways: NatGateways::Listed(vec!["nat-0123456789abcdef0".into()]),
        }
    }

    #[test]
    fn a_recording_asked_for_by_hand_is_checked_as_an_alarm_is() {
        use crate::contract::OnDemand;
        let ask = |nat: &str, minutes| OnDemand { nat_gateway_id: nat.into(), minutes, requested_by: None };
        let nat = "nat-0123456789abcdef0";
        assert_eq!(by_hand(&ask(nat, 10), &watched(), 900).unwrap(), Judgement::Act(600));
        assert_eq!(by_hand(&ask("nat-1234abcd", 5), &watched(), 900).unwrap(), Judgement::Skip(SkipReason::NotWatched));
        for (request, why) in [
            (ask("nat-0123456789abcdef0", 0), "minutes 0 is not from 1 to 15"),
            (ask("nat-0123456789abcdef0", 16), "minutes 16 is not from 1 to 15 (RecordingTime allows 15)"),
            (ask("i-0123456789abcdef0", 5), "natGatewayId \"i-0123456789abcdef0\" is not a NAT Gateway id"),
        ] {
            let err = by_hand(&request, &watched(), 900).unwrap_err().to_string();
            assert!(err.contains(why), "{why:?} in {err}");
        }
        let input = serde_json::json!({"record": {"natGatewayId": nat, "minutes": "thirty"}});
        let err = OnDemand::requested(&input).unwrap_err().to_string();
        assert!(err.contains("minutes") && err.contains("{\"record\""), "{err}");
        assert_eq!(OnDemand::requested(&serde_json::json!({"version": "0"})).unwrap(), None);
    }

    /// A day after the fixtures' alarms.
    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_715_768_100, 0).unwrap()
    }

    fn event(name: &str) -> AlarmStateChange {
        AlarmStateChange::from_value(fixture(name)).unwrap()
    }

    fn judge(value: serde_json::Value) -> Judgement<Spike> {
        spike_from(&AlarmStateChange::from_value(value).unwrap(), &watched(), now()).unwrap()
    }

    #[test]
    fn our_alarm_is_a_spike_on_its_nat_gateway() {
        let Judgement::Act(spike) = spike_from(&event("alarm.json"), &watched(), now()).unwrap() else { panic!() };
        assert_eq!(spike.nat_gateway_id, "nat-0123456789abcdef0");
        assert_eq!(spike.alarm_at_millis, 1_715_681_700_123);
    }

    #[test]
    fn someone_elses_alarm_is_ignored() {
        assert_eq!(
            spike_from(&event("foreign-alarm.json"), &watched(), now()).unwrap(),
            Judgement::Skip(SkipReason::NotOurAlarm)
        );
        assert_eq!(
            calm_from(&event("foreign-alarm.json"), &watched(), now()).unwrap(),
            Judgement::Skip(SkipReason::NotOurAlarm)
        );
    }

    #[test]
    fn an_alarm_on_another_metric_is_ignored() {
        assert_eq!(
            spike_from(&event("cpu-alarm.json"), &watched(), now()).unwrap(),
            Judgement::Skip(SkipReason::NoNatGateway)
        );
    }

    #[test]
    fn an_ok_is_not_a_spike_and_an_alarm_is_not_a_calm() {
        assert_eq!(spike_from(&event("ok.json"), &watched(), now()).unwrap(), Judgement::Skip(SkipReason::NotAnAlarm));
        assert_eq!(
            calm_from(&event("alarm.json"), &watched(), now()).unwrap(),
            Judgement::Skip(SkipReason::NotAnAlarm)
        );
        let Judgement::Act(calm) = calm_from(&event("ok.json"), &watched(), now()).unwrap() else { panic!() };
        assert_eq!(calm.nat_gateway_id, "nat-0123456789abcdef0");
    }

    /// The alarm fixture, renamed and about `nat` in every metric.
    fn alarm_about(name_nat: &str, dimension_nat: &str) -> serde_json::Value {
        let mut value = fixture("alarm.json");
        value["detail"]["alarmName"] = format!("nat-recorder.NatGatewaySpike.{name_nat}").into();
        for metric in value["detail"]["configuration"]["metrics"].as_array_mut().unwrap() {
            if let Some(dimensions) = metric.pointer_mut("/metricStat/metric/dimensions") {
                dimensions["NatGatewayId"] = dimension_nat.into();
            }
        }
        value
    }

    #[test]
    fn an_alarm_named_like_ours_about_a_nat_gateway_we_do_not_watch_is_skipped() {
        assert_eq!(
            judge(alarm_about("nat-0fffffffffffffff1", "nat-0fffffffffffffff1")),
            Judgement::Skip(SkipReason::NotWatched)
        );
    }

    #[test]
    fn watching_all_takes_any_nat_gateway_whose_alarm_is_named_and_built_for_it() {
        let all = Watched { nat_gateways: NatGateways::All, ..watched() };
        let judge = |event| spike_from(&AlarmStateChange::from_value(event).unwrap(), &all, now()).unwrap();
        let Judgement::Act(spike) = judge(alarm_about("nat-0fffffffffffffff1", "nat-0fffffffffffffff1")) else {
            panic!("an alarm of a NAT Gateway created after the deploy is ours")
        };
        assert_eq!(spike.nat_gateway_id, "nat-0fffffffffffffff1");
        // all NAT Gateways, but still only alarms named for, and about, the one they name
        let forged = alarm_about("nat-0123456789abcdef0", "nat-0fffffffffffffff1");
        assert_eq!(judge(forged), Judgement::Skip(SkipReason::NotOurAlarm));
        assert_eq!(judge(alarm_about("nat-XYZ", "nat-XYZ")), Judgement::Skip(SkipReason::NotOurAlarm));
    }

    #[test]
    fn an_alarm_with_our_name_about_another_nat_gateway_is_not_ours() {
        let forged = alarm_about("nat-0123456789abcdef0", "nat-0fffffffffffffff1");
        assert_eq!(judge(forged), Judgement::Skip(SkipReason::NotOurAlarm));
        // one metric about ours and one about another
        let mut mixed = alarm_about("nat-0123456789abcdef0", "nat-0123456789abcdef0");
        mixed["detail"]["configuration"]["metrics"][2]["metricStat"]["metric"]["dimensions"]["NatGatewayId"] =
            "nat-0fffffffffffffff1".into();
        assert_eq!(judge(mixed), Judgement::Skip(SkipReason::NotOurAlarm));
        // a malformed id, named in both places
        assert_eq!(judge(alarm_about("nat-XYZ", "nat-XYZ")), Judgement::Skip(SkipReason::NotOurAlarm));
    }

    #[test]
    fn a_future_timestamp_is_refused_beyond_clock_skew() {
        let mut value = fixture("alarm.json");
        value["detail"]["state"]["timestamp"] = "9999-12-31T23:59:59.000+0000".into();
        assert_eq!(judge(value.clone()), Judgement::Skip(SkipReason::FutureTimestamp));
        let within = now() + chrono::Duration::seconds(MAX_CLOCK_SKEW_SECS - 1);
        value["detail"]["state"]["timestamp"] = within.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string().into();
        assert!(matches!(judge(value.clone()), Judgement::Act(_)));
        // The bound itself: exactly the skew ahead is allowed, a millisecond more is not
        let edge = now() + chrono::Duration::seconds(MAX_CLOCK_SKEW_SECS);
        value["detail"]["state"]["timestamp"] = edge.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string().into();
        assert!(matches!(judge(value.clone()), Judgement::Act(_)));
        let beyond = edge + chrono::Duration::milliseconds(1);
        value["detail"]["state"]["timestamp"] = beyond.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string().into();
        assert_eq!(judge(value), Judgement::Skip(SkipReason::FutureTimestamp));
    }
}
