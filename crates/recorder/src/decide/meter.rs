//! The NAT Gateway's own meter, in numbers: its CloudWatch metrics summed over the spike and
//! over the part of it that was recorded. `metrics` reads them; the email leads with them.

use chrono::{DateTime, Utc};

/// The metrics read, as "Monitor NAT gateways using Amazon CloudWatch" (VPC User Guide) names
/// them, each a 1-minute Sum in namespace `AWS/NATGateway` with dimension `NatGatewayId`.
pub const METRICS: [&str; 5] =
    ["BytesInFromSource", "BytesInFromDestination", "BytesOutToSource", "BytesOutToDestination", "PacketsDropCount"];

/// NAT Gateway metrics are published each minute: the period the sums are asked in.
pub const PERIOD_SECS: i64 = 60;

/// One window's sums, by metric.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reading {
    pub bytes_in_from_source: u64,
    pub bytes_in_from_destination: u64,
    pub bytes_out_to_source: u64,
    pub bytes_out_to_destination: u64,
    pub packets_drop_count: u64,
}

impl Reading {
    /// What the NAT Gateway processed, and bills per GB: what it received from both sides
    /// (the Knowledge Center's "find the top contributors to NAT gateway traffic" adds the same two).
    pub fn processed(&self) -> u64 {
        self.bytes_in_from_source + self.bytes_in_from_destination
    }

    /// What reached it from the remote side and went to no instance: BytesInFromDestination
    /// beyond BytesOutToSource, which the same page reads as data loss or blocked traffic.
    pub fn undelivered(&self) -> u64 {
        self.bytes_in_from_destination.saturating_sub(self.bytes_out_to_source)
    }

    fn add(&mut self, metric: &str, value: u64) {
        let slot = match metric {
            "BytesInFromSource" => &mut self.bytes_in_from_source,
            "BytesInFromDestination" => &mut self.bytes_in_from_destination,
            "BytesOutToSource" => &mut self.bytes_out_to_source,
            "BytesOutToDestination" => &mut self.bytes_out_to_destination,
            "PacketsDropCount" => &mut self.packets_drop_count,
            _ => return,
        };
        *slot += value;
    }
}

/// The meter over the spike and over the part of it that was recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readings {
    /// RFC 3339, whole minutes: the spike's window, from its first minute to the stop's.
    pub spike_from: String,
    pub to: String,
    pub spike: Reading,
    /// RFC 3339, whole minutes: the minute the recording began in. NAT Gateway metrics come per
    /// minute, so the recorded window counts that whole minute (flow logs take minutes to begin
    /// publishing anyway: "Flow logs basics"); the records' share is a floor, never inflated.
    pub recorded_from: String,
    pub recorded: Reading,
}

/// The minute `time` falls in.
fn minute(time: DateTime<Utc>) -> DateTime<Utc> {
    let secs = time.timestamp();
    DateTime::from_timestamp(secs - secs.rem_euclid(PERIOD_SECS), 0).unwrap_or(time)
}

/// The windows asked for, in whole minutes: the spike's from the minute it began to the end of
/// the stop's minute; the recording's from the minute it began. The stop's minute counts whole,
/// as the start's does (a stop stamped 10:28:00 is in the minute 10:28, whose datapoint the
/// meter publishes at 10:28).
pub fn windows(spike_since: DateTime<Utc>, started: DateTime<Utc>, stopped: DateTime<Utc>) -> [DateTime<Utc>; 3] {
    let from = minute(spike_since.min(started));
    let to = minute(stopped.max(started)) + chrono::Duration::seconds(PERIOD_SECS);
    [from, minute(started), to]
}

/// Sums the datapoints of each metric (timestamp in seconds, value) into the two windows.
pub fn sum(
    series: &[(String, Vec<(i64, f64)>)],
    spike_from: DateTime<Utc>,
    recorded_from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> (Reading, Reading) {
    let (mut spike, mut recorded) = (Reading::default(), Reading::default());
    for (metric, points) in series {
        for &(at, value) in points {
            if !value.is_finite() || value < 0.0 || at < spike_from.timestamp() || at >= to.timestamp() {
                continue;
            }
            let value = value.round() as u64;
            spike.add(metric, value);
            if at >= recorded_from.timestamp() {
                recorded.add(metric, value);
            }
        }
    }
    (spike, recorded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn the_windows_are_the_whole_minutes_the_spike_and_the_recording_touched() {
        let [from, recorded, to] =
            windows(at("2024-05-14T10:02:30Z"), at("2024-05-14T10:05:23Z"), at("2024-05-14T10:27:34Z"));
        assert_eq!(
            (from, recorded, to),
            (at("2024-05-14T10:02:00Z"), at("2024-05-14T10:05:00Z"), at("2024-05-14T10:28:00Z"))
        );
        // A spike since after the start (no reason data) is measured from the start; a stop on
        // the start's minute still reads that minute
        let [from, recorded, to] =
            windows(at("2024-05-14T10:09:00Z"), at("2024-05-14T10:05:10Z"), at("2024-05-14T10:05:00Z"));
        assert_eq!(
            (from, recorded, to),
            (at("2024-05-14T10:05:00Z"), at("2024-05-14T10:05:00Z"), at("2024-05-14T10:06:00Z"))
        );
    }

    #[test]
    fn each_datapoint_counts_in_the_windows_it_falls_in() {
        let series = vec![
            (
                "BytesInFromSource".to_owned(),
                vec![(at("2024-05-14T10:02:00Z").timestamp(), 100.0), (at("2024-05-14T10:06:00Z").timestamp(), 10.0)],
            ),
            (
                "BytesInFromDestination".to_owned(),
                vec![(at("2024-05-14T10:06:00Z").timestamp(), 1000.0), (at("2024-05-14T10:28:00Z").timestamp(), 5.0)],
            ),
            ("BytesOutToSource".to_owned(), vec![(at("2024-05-14T10:06:00Z").timestamp(), 900.0)]),
            (
                "PacketsDropCount".to_owned(),
                vec![(at("2024-05-14T10:07:00Z").timestamp(), 3.0), (at("2024-05-14T10:07:00Z").timestamp(), f64::NAN)],
            ),
        ];
        let (spike, recorded) =
            sum(&series, at("2024-05-14T10:02:00Z"), at("2024-05-14T10:06:00Z"), at("2024-05-14T10:28:00Z"));
        assert_eq!(spike.processed(), 1110);
        assert_eq!(recorded.processed(), 1010);
        assert_eq!((recorded.undelivered(), recorded.packets_drop_count), (100, 3));
    }
}
