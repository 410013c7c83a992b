//! The report email, every word of it: what a person reads in five seconds, and the SNS call that
//! sends it. The numbers come from `meter` (the NAT Gateway's own) and `analysis` (the flow
//! records').

use chrono::{DateTime, Utc};

use crate::analysis::{Analysis, Endpoint, PAIR_LIMIT};
use crate::contract::{CaughtError, Ending, Recording, SkipReason, StopOutput};
use crate::error::Result;
use crate::meter::{Reading, Readings};
use crate::workloads::{Workloads, CROSS_AZ_USD_PER_GB};

/// SNS Publish: a subject "must be ASCII text that begins with a letter, number, or punctuation
/// mark; must not include line breaks or control characters; and must be less than 100 characters".
const SUBJECT_LIMIT: usize = 99;

/// How much of one value from an event (a NAT Gateway id, an error's cause) the body carries.
const VALUE_LIMIT: usize = 500;

/// Subject and body of one email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub subject: String,
    pub body: String,
}

/// Where the report's links point, and what its prices are.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportContext<'a> {
    pub region: &'a str,
    pub log_group_name: &'a str,
    pub query_name: &'a str,
    /// The NAT Gateway's processing price in the Region, per GB.
    pub price_per_gb: f64,
}

/// Everything the email says, gathered from the workflow's state.
#[derive(Debug, Clone, PartialEq)]
pub struct Report<'a> {
    pub recording: Option<&'a Recording>,
    pub stop: Option<&'a StopOutput>,
    pub stop_failure: Option<&'a CaughtError>,
    /// The NAT Gateway, when it is known even though no recording started.
    pub nat_gateway_id: &'a str,
    /// What the recorded window says; `Err` says why it could not be analysed.
    pub analysis: Option<&'a Result<Analysis, String>>,
    /// The NAT Gateway's metrics over the spike and the recording; `Err` says why they could not
    /// be read.
    pub meter: Option<&'a Result<Readings, String>>,
    /// Who holds the talkers' addresses; `Err` says why they could not be looked up.
    pub workloads: Option<&'a Result<Workloads, String>>,
    /// Whether the records up to the stop had reached the log group when the report was made.
    pub delivery: Option<&'a Delivery>,
}

/// How complete the recorded window was when the report was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// RFC 3339.
    pub stopped_at: String,
    /// Every stream had settled: its count unchanged across polls, and its last minute arrived
    /// or long enough gone by to call it idle.
    pub complete: bool,
    /// Streams with no record from the recording's last minute, settled: idle then.
    pub idle: Vec<String>,
}

/// One stream at one poll: its records in the window, and the newest one's time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamCount {
    pub records: u64,
    pub latest: Option<DateTime<Utc>>,
}

/// What the report does after a poll of the window's records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arrival {
    /// Every stream settled; these were idle in the last minute.
    Complete { idle: Vec<String> },
    /// Not yet: poll again.
    Wait,
    /// `ReportDelaySeconds` is over: report what is there, and say it may be incomplete.
    GiveUp,
}

/// A count must hold this long, across polls, before a stream counts as settled.
pub const SETTLE_SECS: i64 = 30;
/// A record is stamped with the start of its capture window of up to 60 s (`MaxAggregationInterval`):
/// one from the last minute before the stop means the stream has delivered up to the stop.
pub const LAST_MINUTE_SECS: i64 = 60;
/// Flow logs deliver "in about 5 minutes", best effort (VPC User Guide, "Flow logs basics"): a
/// stream with nothing from the last minute and nothing new this long after the stop was idle.
pub const QUIET_SECS: i64 = 300;

/// Whether the recording's records have all arrived, from this poll's counts and the last
/// poll's census (`None` on the first poll). A stream is settled when its count is the same as
/// at least [`SETTLE_SECS`] ago and either a record from the last minute is in, or
/// [`QUIET_SECS`] have passed since the stop. Past `deadline`, give up.
pub fn arrival(
    streams: &[String],
    counts: &std::collections::BTreeMap<String, StreamCount>,
    previous: Option<&crate::contract::Census>,
    stopped: DateTime<Utc>,
    deadline: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Arrival {
    let since = previous.and_then(|p| parse_time(&p.at));
    let held = since.is_some_and(|at| (now - at).num_seconds() >= SETTLE_SECS);
    let mut idle = Vec::new();
    let settled = streams.iter().all(|stream| {
        let count = counts.get(stream).cloned().unwrap_or_default();
        let before = previous.and_then(|p| p.records.get(stream)).copied().unwrap_or(0);
        let last_minute = count.latest.is_some_and(|t| (stopped - t).num_seconds() <= LAST_MINUTE_SECS);
        let quiet = (now - stopped).num_seconds() >= QUIET_SECS;
        if held && before == count.records && !last_minute && quiet {
            idle.push(stream.clone());
        }
        held && before == count.records && (last_minute || quiet)
    });
    if settled {
        Arrival::Complete { idle }
    } else if now >= deadline {
        Arrival::GiveUp
    } else {
        Arrival::Wait
    }
}

/// `10:27:34` of an RFC 3339 time.
fn clock(text: &str) -> String {
    parse_time(text).map(|t| t.format("%H:%M:%S").to_string()).unwrap_or_else(|| text.to_owned())
}

/// The email's line on how complete the window is.
fn window_line(delivery: &Delivery, analysis: Option<&Result<Analysis, String>>) -> String {
    let latest = analysis.and_then(|a| a.as_ref().ok()).and_then(|a| a.latest_record_at.clone());
    let stopped = clock(&delivery.stopped_at);
    let idle = match delivery.idle.as_slice() {
        [] => String::new(),
        streams => format!("; no traffic in its last minute on {}", streams.join(", ")),
    };
    match (delivery.complete, latest) {
        (true, Some(latest)) => {
            format!("records up to {} of a recording that stopped at {stopped}{idle}", clock(&latest))
        }
        (true, None) => format!("every record arrived, none in the window: the recording stopped at {stopped}"),
        (false, Some(latest)) => format!(
            "records may still be arriving: the latest is from {}, the recording stopped at {stopped}",
            clock(&latest)
        ),
        (false, None) => format!("records may still be arriving: none yet, the recording stopped at {stopped}"),
    }
}

fn duration_text(seconds: i64) -> String {
    let seconds = seconds.max(0);
    match (seconds / 3600, (seconds % 3600) / 60, seconds % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s:02}s"),
        (h, m, _) => format!("{h}h {m:02}m"),
    }
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc))
}

/// A console link that opens Logs Insights on the log group, with the saved query's name to
/// pick from the list.
pub fn console_link(context: &ReportContext<'_>) -> String {
    let group = context.log_group_name.replace('/', "$252F");
    format!(
        "https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logsV2:logs-insights$3FqueryDetail$3D~(source~(~'{group}))",
        region = context.region,
    )
}

/// Text from outside (an event, an API's answer), safe to put in the body: no control
/// characters, at most `limit` characters.
pub(crate) fn printable(text: &str, limit: usize) -> String {
    let clean: String = text.chars().filter(|c| !c.is_control()).collect();
    match clean.char_indices().nth(limit) {
        Some((end, _)) => format!("{}...", &clean[..end]),
        None => clean,
    }
}

/// A value that came from an event, at most [`VALUE_LIMIT`] characters.
fn event_text(value: &str) -> String {
    printable(value, VALUE_LIMIT)
}

/// An SNS subject: printable ASCII, no line breaks, fewer than 100 characters.
fn subject_text(text: String, limit: usize) -> String {
    let clean: String = text.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }).collect();
    if clean.len() > limit {
        format!("{}...", &clean[..limit - 3])
    } else {
        clean
    }
}

/// Bytes in binary units, labelled as such: the GB the price is per is 2^30 bytes too
/// (`analysis::GB`).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else if value >= 100.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `10:27` of an RFC 3339 time.
fn minute_clock(text: &str) -> String {
    parse_time(text).map(|t| t.format("%H:%M").to_string()).unwrap_or_else(|| text.to_owned())
}

/// `n record` or `n records`.
fn records(n: u64) -> String {
    format!("{n} record{}", if n == 1 { "" } else { "s" })
}

/// What lies beyond the NAT Gateway: the internet, or (a private NAT Gateway) other networks.
fn remote_side(private_nat: bool) -> &'static str {
    if private_nat {
        "remote hosts"
    } else {
        "the internet"
    }
}

/// The advice for one AWS range, true for the VPC's Region only where it says so.
fn advice(name: &str, endpoint: Endpoint, region: &str) -> String {
    match endpoint {
        Endpoint::Gateway => {
            let what = if name == "S3" { "buckets" } else { "tables" };
            format!("a gateway endpoint carries it free, for {what} in {region}")
        }
        Endpoint::Interface => "an interface endpoint would carry it instead".into(),
        Endpoint::PublicEc2 => "public EC2 addresses (anyone's), not the EC2 API: no endpoint helps".into(),
        Endpoint::None => String::new(),
    }
}

/// The meter's lines: the spike and its cost, and how much of the recording the records explain.
fn describe_meter(readings: &Readings, analysis: Option<&Analysis>, price_per_gb: f64) -> String {
    let spike = readings.spike.processed();
    let mut text = format!(
        "This spike  {} processed {}-{} UTC, about ${:.2} at ${price_per_gb}/GB (the NAT Gateway's metrics)\n",
        human_bytes(spike),
        minute_clock(&readings.spike_from),
        minute_clock(&readings.to),
        crate::analysis::cost_usd(spike, price_per_gb),
    );
    let recorded = readings.recorded.processed();
    let explained = match analysis {
        Some(a) if recorded > 0 => {
            let flows = a.out_bytes + a.received_bytes;
            format!(", of which the flow records explain {:.0}%", flows as f64 / recorded as f64 * 100.0)
        }
        _ => String::new(),
    };
    text.push_str(&format!(
        "Recorded    {}-{}: {} processed{explained}\n",
        minute_clock(&readings.recorded_from),
        minute_clock(&readings.to),
        human_bytes(recorded)
    ));
    if readings.recorded.packets_drop_count > 0 {
        text.push_str(&format!(
            "Dropped     {} packets while recording (the meter's PacketsDropCount)\n",
            readings.recorded.packets_drop_count
        ));
    }
    text
}

/// The figures as the email's plain-text section: the meter's, then the flow records'.
pub fn describe(
    analysis: &Analysis,
    meter: Option<&Result<Readings, String>>,
    workloads: Option<&Result<Workloads, String>>,
    context: &ReportContext<'_>,
    private_nat: bool,
) -> String {
    // Asked, and every datapoint zero or none: the metrics have not arrived, or the NAT
    // Gateway carried nothing (either way the meter says nothing the records do not).
    let metered = meter.is_some();
    let mut text = String::new();
    let meter = meter.filter(|m| !matches!(m, Ok(readings) if readings.spike == Reading::default()));
    match meter {
        None if metered => text.push_str(
            "Meter       no NAT Gateway metrics for these minutes yet; the figures are the flow records' only\n",
        ),
        Some(Ok(readings)) => text.push_str(&describe_meter(readings, Some(analysis), context.price_per_gb)),
        Some(Err(reason)) => text.push_str(&format!(
            "Meter       the NAT Gateway's metrics could not be read ({}); the figures are the flow records' only\n",
            event_text(reason)
        )),
        None => {}
    }
    if analysis.records == 0 {
        text.push_str("No flow records reached the log group for this window yet.\n");
        return text;
    }
    let remote = remote_side(private_nat);
    if !matches!(meter, Some(Ok(_))) {
        text.push_str(&format!(
            "Processed   {} through the NAT Gateway by the flow records, about ${:.2} at ${}/GB\n",
            human_bytes(analysis.bytes()),
            analysis.cost_usd(analysis.bytes()),
            analysis.price_per_gb
        ));
    }
    text.push_str(&format!(
        "Direction   {} out to {remote}, {} back to the VPC\n",
        human_bytes(analysis.out_bytes),
        human_bytes(analysis.in_bytes)
    ));
    if analysis.undelivered_bytes() > 0 {
        text.push_str(&format!(
            "Undelivered {} reached the NAT Gateway from {remote} and went to no instance (blocked, dropped or unsolicited)\n",
            human_bytes(analysis.undelivered_bytes())
        ));
    }
    if let Some(gap) = analysis.sides_disagree() {
        text.push_str(&format!(
            "Check       {} out from the VPC but {} sent on ({:.0}% apart): the NAT Gateway may have an address the report does not know, or the capture lost legs\n",
            human_bytes(analysis.out_bytes),
            human_bytes(analysis.sent_bytes),
            gap * 100.0
        ));
    }
    text.push_str(&format!("Records     {} flow records, every leg of each connection\n", analysis.records));
    if analysis.rejected.records > 0 {
        text.push_str(&format!(
            "Rejected    {}, {}: refused by the subnet's network ACL (a NAT Gateway has no security group)\n",
            records(analysis.rejected.records),
            human_bytes(analysis.rejected.bytes)
        ));
    }
    if analysis.skipped_records > 0 {
        text.push_str(&format!(
            "Skipped     {} SKIPDATA record{}: VPC Flow Logs could not capture some flows, so the flow figures are low\n",
            analysis.skipped_records,
            if analysis.skipped_records == 1 { "" } else { "s" }
        ));
    }
    if analysis.unclassified.records > 0 {
        text.push_str(&format!(
            "Other       {}, {}, through none of the NAT Gateway's known addresses (not in the figures above)\n",
            records(analysis.unclassified.records),
            human_bytes(analysis.unclassified.bytes)
        ));
    }
    if let Some(left_out) = analysis.unattributed_bytes {
        text.push_str(&format!(
            "Note        the talkers are the largest {PAIR_LIMIT} address pairs; {} in smaller pairs is in the figures, not named\n",
            human_bytes(left_out)
        ));
    }
    let known = workloads.and_then(|w| w.as_ref().ok());
    if let Some(known) = known {
        text.push_str(&cross_zone_line(analysis, known));
    }
    if let Some(Err(reason)) = workloads {
        text.push_str(&format!(
            "Workloads   the interfaces behind the addresses could not be looked up ({})\n",
            event_text(reason)
        ));
    }
    if !analysis.services.is_empty() {
        text.push_str("\nAWS address ranges reached through the NAT Gateway:\n");
        for s in &analysis.services {
            let advice = advice(&s.name, s.endpoint, context.region);
            let line = format!("  {:<10} {:>9} {:>4.0}%  {advice}", s.name, human_bytes(s.bytes), s.share * 100.0);
            text.push_str(line.trim_end());
            text.push('\n');
        }
    }
    if !analysis.talkers.is_empty() {
        text.push_str("\nTop talkers (address in the VPC, what holds it <-> remote host: out, in):\n");
        for t in analysis.talkers.iter().take(TALKERS_SHOWN) {
            let service = t.service.as_deref().map(|s| format!(" ({s})")).unwrap_or_default();
            let holder = match known.map(|w| w.by_address.get(&t.instance)) {
                Some(Some(workload)) => format!(" {}", workload.label),
                Some(None) => " (no interface in the VPC holds it now)".to_owned(),
                None => String::new(),
            };
            text.push_str(&format!(
                "  {}{holder} <-> {}{service}  {}: {} out, {} in\n",
                t.instance,
                t.remote,
                human_bytes(t.bytes()),
                human_bytes(t.out_bytes),
                human_bytes(t.in_bytes)
            ));
            if let Some(workload) =
                known.filter(|w| w.crosses_zones(&t.instance)).and_then(|w| w.by_address.get(&t.instance))
            {
                text.push_str(&format!(
                    "      in {}, another zone than the NAT Gateway's\n",
                    workload.availability_zone
                ));
            }
        }
    }
    text
}

/// How many talkers the email names (and so whose workloads Notify looks up).
pub const TALKERS_SHOWN: usize = 5;

/// The line on traffic that crossed Availability Zones to reach the NAT Gateway, among the
/// talkers the email names; empty when none did.
fn cross_zone_line(analysis: &Analysis, workloads: &Workloads) -> String {
    let crossing: u64 = analysis
        .talkers
        .iter()
        .take(TALKERS_SHOWN)
        .filter(|t| workloads.crosses_zones(&t.instance))
        .map(|t| t.bytes())
        .sum();
    let Some(zone) = workloads.nat_zone.as_deref().filter(|_| crossing > 0) else { return String::new() };
    format!(
        "Cross-AZ    {} from other zones than the NAT Gateway's ({zone}), ${:.2} more at ${CROSS_AZ_USD_PER_GB}/GB: one NAT Gateway per zone avoids it\n",
        human_bytes(crossing),
        crate::analysis::cost_usd(crossing, CROSS_AZ_USD_PER_GB)
    )
}

/// The subject's figure: what the NAT Gateway processed in the spike (by its meter, else by the
/// flow records), and the leading AWS range if one carries a fifth of it or more.
pub fn figure(analysis: &Analysis, meter: Option<&Readings>) -> Option<String> {
    let bytes = match meter {
        Some(readings) if readings.spike.processed() > 0 => readings.spike.processed(),
        _ if analysis.records == 0 => return None,
        _ => analysis.bytes(),
    };
    let lead = analysis
        .services
        .first()
        .filter(|s| s.share >= 0.2)
        .map(|s| format!(" ({} {:.0}%)", s.name, s.share * 100.0))
        .unwrap_or_default();
    Some(format!("{}{lead}", human_bytes(bytes)))
}

/// Composes the email for how the recording ended.
pub fn compose(report: &Report<'_>, context: &ReportContext<'_>) -> Email {
    let nat = &event_text(report.nat_gateway_id);
    let ending = report
        .stop
        .map(|s| s.ending.clone())
        .unwrap_or_else(|| Ending::Error { error: "StopFailed".into(), cause: "StopRecording did not finish".into() });
    let started = report.recording.and_then(|r| parse_time(&r.started_at));
    let stopped = report.stop.and_then(|s| parse_time(&s.stopped_at));
    let duration = match (started, stopped) {
        (Some(a), Some(b)) => Some(duration_text((b - a).num_seconds())),
        _ => None,
    };

    let by_hand = report.recording.and_then(|r| r.on_demand.as_ref());
    let headline = match (&ending, &duration) {
        (Ending::Timeout, Some(d)) if by_hand.is_some() => format!("recorded {d} by hand"),
        (Ending::Timeout, None) if by_hand.is_some() => "recorded by hand".into(),
        (Ending::AlarmOk, Some(d)) => format!("recorded {d}, alarm back to OK"),
        (Ending::Timeout, Some(d)) => format!("recorded {d}, stopped at the time limit"),
        (Ending::AlarmOk, None) => "recorded, alarm back to OK".into(),
        (Ending::Timeout, None) => "recorded, stopped at the time limit".into(),
        (Ending::Error { .. }, _) => "recording FAILED".into(),
    };
    let readings = report.meter.and_then(|m| m.as_ref().ok());
    let figure = match report.analysis {
        Some(Ok(analysis)) if !matches!(ending, Ending::Error { .. }) => figure(analysis, readings),
        _ => None,
    };
    let subject = match figure {
        Some(figure) => subject_text(format!("NAT Gateway {nat}: {headline}, {figure}"), SUBJECT_LIMIT),
        None => subject_text(format!("NAT Gateway {nat}: {headline}"), SUBJECT_LIMIT),
    };

    let mut body = String::new();
    let mut line = |label: &str, value: &str| body.push_str(&format!("{label:<12}{value}\n"));
    line("NAT Gateway", nat);
    if let Some(recording) = report.recording {
        line("Started", &recording.started_at);
    }
    if let Some(stop) = report.stop {
        line("Stopped", &stop.stopped_at);
    }
    if let Some(successor) = report.stop.and_then(|s| s.successor.as_deref()) {
        // A newer episode began during this recording and was still open at its stop.
        line("Handed over", &format!("the alarm went off again; {successor} records on"));
    }
    if let Some(d) = &duration {
        line("Duration", d);
    }
    match (by_hand, &ending) {
        (Some(asked), Ending::Timeout) => line("Why", &format!("asked for by hand, for {} minutes", asked.minutes)),
        _ => line("Why", &event_text(&ending.describe())),
    }
    if let Some(asked) = by_hand {
        // Step Functions keeps no caller; the request says who, and CloudTrail can confirm it.
        let who = asked.requested_by.as_deref().map_or("nobody named".into(), |by| printable(by, 256));
        line("Asked by", &format!("{who} (as the request says; CloudTrail's StartExecution event names the caller)"));
    }
    if let Some(recording) = report.recording {
        line("Interfaces", &recording.network_interface_ids.join(", "));
        line("Log group", context.log_group_name);
        line("Log streams", &recording.log_streams().join(", "));
    }
    if let Some(delivery) = report.delivery {
        line("Window", &window_line(delivery, report.analysis));
    }
    body.push('\n');
    match report.analysis {
        Some(Ok(analysis)) => {
            let private_nat = report.recording.is_some_and(|r| r.private_nat);
            body.push_str(&describe(analysis, report.meter, report.workloads, context, private_nat));
            body.push('\n');
        }
        Some(Err(reason)) => {
            if let Some(readings) = readings {
                body.push_str(&describe_meter(readings, None, context.price_per_gb));
            }
            body.push_str(&format!("The recorded window could not be analysed: {reason}\n\n"));
        }
        None => {}
    }
    match (report.stop, report.stop_failure) {
        (Some(stop), _) => {
            body.push_str(&format!(
                "Flow logs removed: {}\n",
                if stop.deleted_flow_log_ids.is_empty() {
                    "none were left".to_owned()
                } else {
                    stop.deleted_flow_log_ids.join(", ")
                }
            ));
        }
        (None, Some(failure)) => {
            body.push_str(&format!(
                "WARNING: the flow logs could not be removed ({}: {}). The scheduled sweep will retry; \
                 check the EC2 console for flow logs tagged vpc-flowlogs-recorder:nat-gateway = {nat}.\n",
                event_text(&failure.error),
                event_text(&failure.cause)
            ));
        }
        (None, None) => {}
    }
    if report.recording.is_some() {
        body.push_str(&format!(
            "\nRecords reach the log group about 5 minutes after capture. To read them, open\n{}\nand run the saved query \"{}\".\n",
            console_link(context),
            context.query_name
        ));
    }
    Email { subject, body }
}

/// Where a report comes from: the account (its alias where IAM lets the notifier read it) and
/// the Region. Reports of many accounts may share a topic (ReportTopicArn).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin<'a> {
    pub account_id: &'a str,
    pub alias: Option<&'a str>,
    pub region: &'a str,
    /// The topic is shared by the recorders of many accounts: the subject says which one.
    pub shared_topic: bool,
}

impl Origin<'_> {
    /// `123456789012 (payments-prod)`, or the id alone.
    fn account(&self) -> String {
        match self.alias {
            Some(alias) => format!("{} ({})", self.account_id, printable(alias, 63)),
            None => self.account_id.to_owned(),
        }
    }

    /// The email with its account and Region: two lines at the top of the body, and, on a shared
    /// topic, at the start of the subject (the alias, else the id, which is shorter to scan).
    pub fn stamp(&self, email: Email) -> Email {
        let subject = match self.shared_topic {
            true => {
                let who = self.alias.map_or_else(|| self.account_id.to_owned(), |a| printable(a, 63));
                subject_text(format!("[{who} {}] {}", self.region, email.subject), SUBJECT_LIMIT)
            }
            false => email.subject,
        };
        let body = format!("{:<12}{}\n{:<12}{}\n{}", "Account", self.account(), "Region", self.region, email.body);
        Email { subject, body }
    }
}

/// The email for an alarm that did not start a recording, when one is asked for.
pub fn compose_skip(nat_gateway_id: &str, reason: SkipReason) -> Email {
    let nat_gateway_id = &event_text(nat_gateway_id);
    let subject = subject_text(format!("NAT Gateway {nat_gateway_id}: spike NOT recorded"), SUBJECT_LIMIT);
    let body = format!(
        "NAT Gateway {nat_gateway_id} went into ALARM, but no flow logs were turned on:\n{}.\n\n\
         Raise NumOfRecordings (0 means no limit) and redeploy to record the next spike.\n",
        reason.describe()
    );
    Email { subject, body }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTEXT: ReportContext<'static> = ReportContext {
        region: "eu-west-1",
        log_group_name: "/vpc/flowlogs",
        query_name: "Serverless Auto VPC Flow Log Recorder",
        price_per_gb: 0.045,
    };

    fn recording() -> Recording {
        Recording {
            nat_gateway_id: "nat-0123456789abcdef0".into(),
            execution_arn: "arn:aws:states:eu-west-1:123456789012:execution:sm:e1".into(),
            alarm_at_millis: 1,
            spike_since_millis: None,
            network_interface_ids: vec!["eni-0a".into(), "eni-0b".into()],
            nat_addresses: vec!["10.0.0.220".into()],
            private_nat: false,
            flow_log_ids: vec!["fl-1".into(), "fl-2".into()],
            log_group_name: "/vpc/flowlogs".into(),
            started_at: "2024-05-14T10:15:02Z".into(),
            timeout_seconds: 900,
            record_at_least_until: "2024-05-14T10:20:02Z".into(),
            report_delay_seconds: 300,
            on_demand: None,
        }
    }

    /// A report on the usual NAT Gateway with nothing in it but `recording` and `stop`.
    fn report<'a>(recording: Option<&'a Recording>, stop: Option<&'a StopOutput>) -> Report<'a> {
        Report {
            recording,
            stop,
            stop_failure: None,
            nat_gateway_id: "nat-0123456789abcdef0",
            analysis: None,
            meter: None,
            workloads: None,
            delivery: None,
        }
    }

    fn stop(ending: Ending) -> StopOutput {
        StopOutput {
            nat_gateway_id: "nat-0123456789abcdef0".into(),
            ending,
            deleted_flow_log_ids: vec!["fl-1".into(), "fl-2".into()],
            foreign_flow_log_ids: vec![],
            stopped_at: "2024-05-14T10:27:34Z".into(),
            released: true,
            successor: None,
        }
    }

    #[test]
    fn an_ok_ending_reads_in_five_seconds() {
        let recording = recording();
        let stop = stop(Ending::AlarmOk);
        let report = report(Some(&recording), Some(&stop));
        let email = compose(&report, &CONTEXT);
        assert_eq!(email.subject, "NAT Gateway nat-0123456789abcdef0: recorded 12m 32s, alarm back to OK");
        assert!(email.body.contains("Duration    12m 32s\n"), "{}", email.body);
        assert!(email.body.contains("Why         the alarm returned to OK\n"), "{}", email.body);
        assert!(email.body.contains("Log streams eni-0a-all, eni-0b-all\n"), "{}", email.body);
        assert!(email.body.contains("Flow logs removed: fl-1, fl-2\n"), "{}", email.body);
        assert!(email.body.contains("run the saved query \"Serverless Auto VPC Flow Log Recorder\""), "{}", email.body);
        assert!(email.body.contains(
            "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:logs-insights"
        ));
        assert!(email.body.contains("$252Fvpc$252Fflowlogs"), "{}", email.body);
    }

    #[test]
    fn a_recording_asked_for_by_hand_says_so_and_who_asked() {
        let mut recording = recording();
        recording.on_demand = Some(crate::contract::OnDemand {
            nat_gateway_id: recording.nat_gateway_id.clone(),
            minutes: 30,
            requested_by: Some("arn:aws:iam::123456789012:user/alice\u{1b}[31m".into()),
        });
        let stop = stop(Ending::Timeout);
        let email = compose(&report(Some(&recording), Some(&stop)), &CONTEXT);
        assert!(email.subject.ends_with("recorded 12m 32s by hand"), "{}", email.subject);
        assert!(email.body.contains("Why         asked for by hand, for 30 minutes\n"), "{}", email.body);
        let asked = email.body.lines().find(|l| l.starts_with("Asked by")).expect("an Asked by line");
        assert!(
            asked.starts_with("Asked by    arn:aws:iam::123456789012:user/alice[31m (as the request says"),
            "{asked}"
        );
    }

    #[test]
    fn a_timeout_says_so_in_the_subject() {
        let recording = recording();
        let stop = stop(Ending::Timeout);
        let report = report(Some(&recording), Some(&stop));
        let email = compose(&report, &CONTEXT);
        assert!(email.subject.ends_with("recorded 12m 32s, stopped at the time limit"), "{}", email.subject);
    }

    #[test]
    fn a_hand_over_is_named_in_the_report() {
        let successor = "arn:aws:states:eu-west-1:1:execution:s-recorder:handover-nat-1-2";
        let handed = StopOutput { successor: Some(successor.into()), ..stop(Ending::AlarmOk) };
        let email = compose(&report(None, Some(&handed)), &CONTEXT);
        let line = email.body.lines().find(|l| l.starts_with("Handed over")).expect(&email.body);
        assert!(line.ends_with(&format!("{successor} records on")), "{line}");
        let without = compose(&report(None, Some(&stop(Ending::AlarmOk))), &CONTEXT);
        assert!(!without.body.contains("Handed over"), "{}", without.body);
    }

    #[test]
    fn a_failure_names_the_error_and_the_cleanup() {
        let stop = StopOutput {
            deleted_flow_log_ids: vec!["fl-9".into()],
            ..stop(Ending::Error { error: "FlowLogCreationFailed".into(), cause: "eni-0b (AccessDenied: no)".into() })
        };
        let report = report(None, Some(&stop));
        let email = compose(&report, &CONTEXT);
        assert_eq!(email.subject, "NAT Gateway nat-0123456789abcdef0: recording FAILED");
        assert!(
            email.body.contains("a step failed (FlowLogCreationFailed: eni-0b (AccessDenied: no))"),
            "{}",
            email.body
        );
        assert!(email.body.contains("Flow logs removed: fl-9"), "{}", email.body);
    }

    #[test]
    fn a_failed_stop_warns_that_flow_logs_may_remain() {
        let recording = recording();
        let failure = CaughtError { error: "Transient".into(), cause: "throttled".into() };
        let report = Report { stop_failure: Some(&failure), ..report(Some(&recording), None) };
        let email = compose(&report, &CONTEXT);
        assert!(email.subject.contains("FAILED"));
        assert!(
            email.body.contains("WARNING: the flow logs could not be removed (Transient: throttled)"),
            "{}",
            email.body
        );
    }

    #[test]
    fn the_analysis_leads_the_subject_and_body() {
        let recording = recording();
        let stop = stop(Ending::AlarmOk);
        // 2 GiB from S3 to an instance: the private-side leg (NAT to instance)
        let answers = crate::analysis::Answers {
            private: vec![crate::fixtures::row(&[
                ("action", "ACCEPT"),
                ("flowDirection", "egress"),
                ("pktSrcAwsService", "S3"),
                ("pktDstAwsService", "-"),
                ("totalBytes", "2147483648"),
                ("records", "10"),
            ])],
            records: vec![crate::fixtures::row(&[
                ("action", "ACCEPT"),
                ("totalBytes", "4294967296"),
                ("records", "20"),
            ])],
            ..Default::default()
        };
        let analysis = Ok(crate::analysis::analyse(&answers, 0.045).unwrap());
        let report = Report { analysis: Some(&analysis), ..report(Some(&recording), Some(&stop)) };
        let email = compose(&report, &CONTEXT);
        assert_eq!(
            email.subject,
            "NAT Gateway nat-0123456789abcdef0: recorded 12m 32s, alarm back to OK, 2.0 GiB (S3 100%)"
        );
        assert!(
            email.body.contains(
                "Processed   2.0 GiB through the NAT Gateway by the flow records, about $0.09 at $0.045/GB\n"
            ),
            "{}",
            email.body
        );
        // With the meter, the subject and the headline are the meter's
        let meter = Ok(readings());
        let report = Report { meter: Some(&meter), ..report };
        let email = compose(&report, &CONTEXT);
        assert!(email.subject.ends_with(", 1.2 GiB (S3 100%)"), "{}", email.subject);
        assert!(!email.body.contains("Processed"), "{}", email.body);
    }

    /// The README's instances (`tests/src/spike.rs` launches the same) and the NAT Gateway's
    /// own interface, in us-east-1a; worker-b runs in us-east-1b.
    fn workloads() -> Workloads {
        let instance = |address: &str, id: &str, name: &str, zone: &str| crate::workloads::Interface {
            address: address.into(),
            interface_id: format!("eni-{id}"),
            interface_type: "interface".into(),
            instance_id: Some(id.into()),
            instance_name: Some(name.into()),
            availability_zone: zone.into(),
            subnet_id: "subnet-1".into(),
            ..Default::default()
        };
        let nat = crate::workloads::Interface {
            instance_id: None,
            instance_name: None,
            interface_type: "nat_gateway".into(),
            ..instance("10.0.0.220", "nat", "", "us-east-1a")
        };
        Workloads::new(
            &[
                nat,
                instance("10.0.1.25", "i-0a1b2c3d4e5f60001", "web-1", "us-east-1a"),
                instance("10.0.1.30", "i-0a1b2c3d4e5f60002", "backup", "us-east-1a"),
                instance("10.0.1.41", "i-0a1b2c3d4e5f60003", "worker-a", "us-east-1a"),
                instance("10.0.2.42", "i-0a1b2c3d4e5f60004", "worker-b", "us-east-1b"),
            ],
            &["10.0.0.220".to_owned()],
        )
    }

    /// The meter over the README's spike: 400 MiB in the 13 minutes before the recording, then
    /// 68 MiB from the VPC and 765 MiB from the internet while it recorded.
    fn readings() -> Readings {
        use crate::fixtures::MIB;
        use crate::meter::Reading;
        let recorded = Reading {
            bytes_in_from_source: 68 * MIB,
            bytes_in_from_destination: 765 * MIB,
            bytes_out_to_source: 754 * MIB,
            bytes_out_to_destination: 68 * MIB,
            packets_drop_count: 0,
        };
        let spike = Reading { bytes_in_from_source: recorded.bytes_in_from_source + 400 * MIB, ..recorded };
        Readings {
            spike_from: "2024-05-14T10:02:00Z".into(),
            to: "2024-05-14T10:28:00Z".into(),
            spike,
            recorded_from: "2024-05-14T10:15:00Z".into(),
            recorded,
        }
    }

    #[test]
    fn a_failed_analysis_is_said_and_the_email_still_goes() {
        let recording = recording();
        let stop = stop(Ending::Timeout);
        let analysis = Err("query q-1 ended Failed".to_owned());
        let report = Report { analysis: Some(&analysis), ..report(Some(&recording), Some(&stop)) };
        let email = compose(&report, &CONTEXT);
        assert!(
            email.body.contains("The recorded window could not be analysed: query q-1 ended Failed"),
            "{}",
            email.body
        );
    }

    #[test]
    fn a_skip_for_the_limit_says_what_to_change() {
        let email = compose_skip("nat-1", SkipReason::LimitReached);
        assert_eq!(email.subject, "NAT Gateway nat-1: spike NOT recorded");
        assert!(email.body.contains("NumOfRecordings has been reached"), "{}", email.body);
    }

    #[test]
    fn the_report_goes_when_every_stream_has_settled_and_knows_an_idle_one() {
        use crate::contract::Census;
        use std::collections::BTreeMap;
        let at = |s: i64| DateTime::from_timestamp(1_715_681_254 + s, 0).unwrap();
        let stopped = at(0);
        let deadline = at(600);
        let streams = vec!["eni-a-all".to_owned(), "eni-b-all".to_owned()];
        let counts = |a: u64, b: u64, b_latest: i64| {
            BTreeMap::from([
                ("eni-a-all".to_owned(), StreamCount { records: a, latest: Some(at(-10)) }),
                ("eni-b-all".to_owned(), StreamCount { records: b, latest: Some(at(b_latest)) }),
            ])
        };
        let census = |when: i64, a: u64, b: u64| Census {
            at: at(when).to_rfc3339(),
            records: BTreeMap::from([("eni-a-all".to_owned(), a), ("eni-b-all".to_owned(), b)]),
        };
        // The first poll never settles anything: there is nothing to compare with
        assert_eq!(arrival(&streams, &counts(5, 3, -20), None, stopped, deadline, at(30)), Arrival::Wait);
        // Both last minutes in, unchanged for 30 s: complete
        let done = arrival(&streams, &counts(5, 3, -20), Some(&census(30, 5, 3)), stopped, deadline, at(60));
        assert_eq!(done, Arrival::Complete { idle: vec![] });
        // A count that moved, or held for less than 30 s, waits
        assert_eq!(
            arrival(&streams, &counts(6, 3, -20), Some(&census(30, 5, 3)), stopped, deadline, at(60)),
            Arrival::Wait
        );
        assert_eq!(
            arrival(&streams, &counts(5, 3, -20), Some(&census(50, 5, 3)), stopped, deadline, at(60)),
            Arrival::Wait
        );
        // eni-b's newest record is from before the last minute: it waits for it, until five
        // quiet minutes after the stop say it was idle
        assert_eq!(
            arrival(&streams, &counts(5, 3, -200), Some(&census(30, 5, 3)), stopped, deadline, at(60)),
            Arrival::Wait
        );
        let idle = arrival(&streams, &counts(5, 3, -200), Some(&census(270, 5, 3)), stopped, deadline, at(300));
        assert_eq!(idle, Arrival::Complete { idle: vec!["eni-b-all".to_owned()] });
        // A stream with no record at all is idle the same way; past the deadline, give up
        let none = BTreeMap::from([("eni-a-all".to_owned(), StreamCount { records: 5, latest: Some(at(-10)) })]);
        let quiet = Census { at: at(270).to_rfc3339(), records: BTreeMap::from([("eni-a-all".to_owned(), 5)]) };
        assert_eq!(
            arrival(&streams, &none, Some(&quiet), stopped, deadline, at(300)),
            Arrival::Complete { idle: vec!["eni-b-all".to_owned()] }
        );
        assert_eq!(
            arrival(&streams, &counts(6, 3, -20), Some(&census(30, 5, 3)), stopped, at(60), at(60)),
            Arrival::GiveUp
        );
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration_text(42), "42s");
        assert_eq!(duration_text(752), "12m 32s");
        assert_eq!(duration_text(3 * 3600 + 5 * 60 + 9), "3h 05m");
    }

    #[test]
    fn a_report_names_its_account_and_region_and_on_a_shared_topic_leads_its_subject_with_them() {
        let email = Email {
            subject: "NAT Gateway nat-1: recorded 5m 00s, alarm back to OK".into(),
            body: "NAT Gateway nat-1\n".into(),
        };
        let own = Origin { account_id: "123456789012", alias: None, region: "eu-west-1", shared_topic: false };
        let stamped = own.stamp(email.clone());
        assert_eq!(stamped.subject, email.subject, "one account's own inbox needs no account in the subject");
        assert_eq!(stamped.body, "Account     123456789012\nRegion      eu-west-1\nNAT Gateway nat-1\n");
        let shared = Origin { alias: Some("payments-prod"), shared_topic: true, ..own };
        let stamped = shared.stamp(email);
        assert_eq!(stamped.subject, "[payments-prod eu-west-1] NAT Gateway nat-1: recorded 5m 00s, alarm back to OK");
        assert!(stamped.body.starts_with("Account     123456789012 (payments-prod)\nRegion      eu-west-1\n"));
        // an alias with a line break cannot forge a header line
        let odd = Origin { alias: Some("a\nRegion x"), ..shared };
        assert!(!odd.stamp(Email { subject: "s".into(), body: String::new() }).body.contains("\nRegion x"));
    }

    #[test]
    fn long_subjects_are_cut_below_the_100_characters_sns_allows() {
        let subject = subject_text("x".repeat(150), SUBJECT_LIMIT);
        assert_eq!(subject.len(), 99);
        assert!(subject.ends_with("..."));
        assert_eq!(subject_text("x".repeat(99), SUBJECT_LIMIT), "x".repeat(99), "99 characters fit whole");
        assert_eq!(subject_text("café\nnow".into(), SUBJECT_LIMIT), "caf??now");
        let email = compose_skip(&format!("nat-{}", "0".repeat(200)), SkipReason::LimitReached);
        assert!(email.subject.len() < 100, "{}", email.subject);
    }

    #[test]
    fn values_from_an_event_lose_control_characters_and_are_capped() {
        let stop = StopOutput {
            deleted_flow_log_ids: vec![],
            ..stop(Ending::Error {
                error: "Boom\u{1b}[31m".into(),
                cause: format!("line\r\nbreak {}", "y".repeat(900)),
            })
        };
        let report = Report { nat_gateway_id: "nat-1\u{7}\n\u{0}", ..report(None, Some(&stop)) };
        let email = compose(&report, &CONTEXT);
        assert!(email.body.starts_with("NAT Gateway nat-1\n"), "{}", email.body);
        let why = email.body.lines().find(|l| l.starts_with("Why")).unwrap();
        assert!(why.starts_with("Why         a step failed (Boom[31m: linebreak yyy"), "{why}");
        assert!(why.ends_with("..."), "{why}");
        assert!(why.len() < 12 + VALUE_LIMIT + 4, "{}", why.len());
        assert!(!email.body.chars().any(|c| c.is_control() && c != '\n'), "{:?}", email.body);
    }

    #[test]
    fn the_readmes_example_is_the_email_of_the_worked_spike() {
        // Given the recording of the spike worked by hand (fixtures::nat_answers), its meter and
        // its workloads
        let recording = Recording {
            network_interface_ids: vec!["eni-0a1b2c3d4e5f67890".into()],
            log_group_name: "/vpc-flowlogs-recorder/nat-recorder".into(),
            ..recording()
        };
        let stop = StopOutput { deleted_flow_log_ids: vec!["fl-0123456789abcdef0".into()], ..stop(Ending::AlarmOk) };
        let analysis = crate::analysis::analyse(&crate::fixtures::nat_answers(), 0.045);
        let meter = Ok(readings());
        let workloads = Ok(workloads());
        let report = Report {
            analysis: Some(&analysis),
            meter: Some(&meter),
            workloads: Some(&workloads),
            delivery: Some(&Delivery { stopped_at: stop.stopped_at.clone(), complete: true, idle: vec![] }),
            ..report(Some(&recording), Some(&stop))
        };
        let context = ReportContext {
            region: "us-east-1",
            log_group_name: "/vpc-flowlogs-recorder/nat-recorder",
            query_name: "nat-recorder/Serverless Auto VPC Flow Log Recorder",
            price_per_gb: 0.045,
        };
        let email = compose(&report, &context);
        // Then the README shows exactly that email
        let expected = format!("Subject: {}\n\n{}", email.subject, email.body);
        let readme = std::fs::read_to_string(crate::fixtures::repo_file("README.md")).unwrap();
        let shown = readme.split("```text\nSubject: ").nth(1).and_then(|rest| rest.split("```").next());
        assert_eq!(
            shown.map(|s| format!("Subject: {s}")),
            Some(expected.clone()),
            "README's example should be:\n{expected}"
        );
    }

    fn fixture_analysis() -> Analysis {
        crate::analysis::analyse(&crate::fixtures::nat_answers(), 0.045).unwrap()
    }

    #[test]
    fn the_email_section_reads_in_five_seconds() {
        let analysis = fixture_analysis();
        let meter = Ok(readings());
        let text = describe(&analysis, Some(&meter), None, &CONTEXT, false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[..9],
            [
                // 1233 MiB = 1.204 GiB x $0.045; the records explain (66 + 755) / (68 + 765) MiB
                "This spike  1.2 GiB processed 10:02-10:28 UTC, about $0.05 at $0.045/GB (the NAT Gateway's metrics)",
                "Recorded    10:15-10:28: 833 MiB processed, of which the flow records explain 99%",
                "Direction   66.0 MiB out to the internet, 752 MiB back to the VPC",
                "Undelivered 3.0 MiB reached the NAT Gateway from the internet and went to no instance (blocked, dropped or unsolicited)",
                "Records     1354 flow records, every leg of each connection",
                "Rejected    100 records, 5.9 KiB: refused by the subnet's network ACL (a NAT Gateway has no security group)",
                "Skipped     2 SKIPDATA records: VPC Flow Logs could not capture some flows, so the flow figures are low",
                "Other       1 record, 1000 B, through none of the NAT Gateway's known addresses (not in the figures above)",
                "",
            ]
        );
        assert!(
            text.contains(
                "  S3           701 MiB   86%  a gateway endpoint carries it free, for buckets in eu-west-1\n"
            ),
            "{text}"
        );
        assert!(text.contains("  10.0.1.25 <-> 52.216.1.10 (S3)  701 MiB: 1.0 MiB out, 700 MiB in\n"), "{text}");
        assert!(!text.contains("10.0.0.220"), "{text}");
        assert_eq!(figure(&analysis, Some(&readings())).as_deref(), Some("1.2 GiB (S3 86%)"));
        assert_eq!(figure(&analysis, None).as_deref(), Some("818 MiB (S3 86%)"));
    }

    #[test]
    fn a_private_nat_gateway_talks_to_remote_hosts_not_the_internet() {
        let text = describe(&fixture_analysis(), None, None, &CONTEXT, true);
        assert!(text.contains("Direction   66.0 MiB out to remote hosts, 752 MiB back to the VPC\n"), "{text}");
        assert!(!text.contains("internet"), "{text}");
    }

    #[test]
    fn advice_is_given_only_where_it_holds() {
        assert_eq!(
            advice("DYNAMODB", Endpoint::Gateway, "eu-west-1"),
            "a gateway endpoint carries it free, for tables in eu-west-1"
        );
        assert!(advice("EC2", Endpoint::PublicEc2, "eu-west-1").contains("not the EC2 API"));
        assert_eq!(advice("AMAZON", Endpoint::None, "eu-west-1"), "");
    }

    #[test]
    fn an_unreadable_meter_is_said_and_the_flow_figures_stand_alone() {
        let meter = Err("AccessDenied".to_owned());
        let text = describe(&fixture_analysis(), Some(&meter), None, &CONTEXT, false);
        assert!(text.starts_with("Meter       the NAT Gateway's metrics could not be read (AccessDenied)"), "{text}");
        assert!(text.contains("Processed   818 MiB through the NAT Gateway by the flow records"), "{text}");
    }

    #[test]
    fn sides_that_disagree_are_said() {
        let analysis = Analysis { sent_bytes: 60 * crate::fixtures::MIB, ..fixture_analysis() };
        let text = describe(&analysis, None, None, &CONTEXT, false);
        assert!(text.contains("Check       66.0 MiB out from the VPC but 60.0 MiB sent on (9% apart): the NAT Gateway may have an address"), "{text}");
        assert!(!describe(&fixture_analysis(), None, None, &CONTEXT, false).contains("Check"));
    }

    #[test]
    fn a_cut_talker_list_says_what_it_left_out() {
        let analysis = Analysis { unattributed_bytes: Some(38 * crate::fixtures::MIB), ..fixture_analysis() };
        let text = describe(&analysis, None, None, &CONTEXT, false);
        assert!(
            text.contains("Note        the talkers are the largest 10000 address pairs; 38.0 MiB in smaller pairs"),
            "{text}"
        );
    }

    #[test]
    fn no_rows_yet_is_said_plainly() {
        let empty = crate::analysis::analyse(&Default::default(), 0.045).unwrap();
        assert_eq!(
            describe(&empty, None, None, &CONTEXT, false),
            "No flow records reached the log group for this window yet.\n"
        );
        assert_eq!(figure(&empty, None), None);
    }

    #[test]
    fn bytes_read_naturally() {
        assert_eq!(human_bytes(120), "120 B");
        assert_eq!(human_bytes(31_457_280), "30.0 MiB");
        assert_eq!(human_bytes(734_003_200), "700 MiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024 / 2), "1.5 GiB");
        // TiB is the largest unit: a pebibyte reads as 1024 TiB
        assert_eq!(human_bytes(1 << 50), "1024 TiB");
    }

    #[test]
    fn no_rejected_line_when_nothing_was_rejected() {
        let mut analysis = fixture_analysis();
        analysis.rejected = Default::default();
        let text = describe(&analysis, None, None, &CONTEXT, false);
        assert!(!text.contains("Rejected"), "{text}");
    }

    #[test]
    fn a_failed_recording_puts_no_figure_in_its_subject_even_with_an_analysis() {
        let stop =
            stop(Ending::Error { error: "FlowLogCreationFailed".into(), cause: "eni-0b (AccessDenied: no)".into() });
        let analysis = Ok(fixture_analysis());
        let report = Report { analysis: Some(&analysis), ..report(None, Some(&stop)) };
        let email = compose(&report, &CONTEXT);
        assert_eq!(email.subject, "NAT Gateway nat-0123456789abcdef0: recording FAILED");
    }
}
