//! The report email, every word of it: what a person reads in five seconds, and the SNS call that
//! sends it. The numbers come from `analysis`.

use chrono::{DateTime, Utc};

use crate::analysis::{Analysis, Endpoint, MAX_ROWS};
use crate::contract::{CaughtError, Ending, Recording, SkipReason, StopOutput};
use crate::error::Result;

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

/// Where the report's links point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportContext<'a> {
    pub region: &'a str,
    pub log_group_name: &'a str,
    pub query_name: &'a str,
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
    /// Whether the records up to the stop had reached the log group when the report was made.
    pub delivery: Option<&'a Delivery>,
}

/// How complete the recorded window was when the report was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// RFC 3339.
    pub stopped_at: String,
    /// Records from the recording's last minute had arrived.
    pub complete: bool,
}

/// `10:27:34` of an RFC 3339 time.
fn clock(text: &str) -> String {
    parse_time(text).map(|t| t.format("%H:%M:%S").to_string()).unwrap_or_else(|| text.to_owned())
}

/// The email's line on how complete the window is.
fn window_line(delivery: &Delivery, analysis: Option<&Result<Analysis, String>>) -> String {
    let latest = analysis.and_then(|a| a.as_ref().ok()).and_then(|a| a.latest_record_at.clone());
    let stopped = clock(&delivery.stopped_at);
    match (delivery.complete, latest) {
        (true, Some(latest)) => format!("records up to {} of a recording that stopped at {stopped}", clock(&latest)),
        (true, None) => format!("records reached the stop at {stopped}"),
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

/// A value that came from an event, safe to put in the body: no control characters, at most
/// [`VALUE_LIMIT`] characters.
fn event_text(value: &str) -> String {
    let clean: String = value.chars().filter(|c| !c.is_control()).collect();
    match clean.char_indices().nth(VALUE_LIMIT) {
        Some((end, _)) => format!("{}...", &clean[..end]),
        None => clean,
    }
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

/// Bytes as a person reads them: 734 MB, 1.2 GB.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
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

/// The analysis as the email's plain-text section.
pub fn describe(analysis: &Analysis) -> String {
    let mut text = String::new();
    if analysis.records == 0 {
        text.push_str("No flow records reached the log group for this window yet.\n");
        return text;
    }
    text.push_str(&format!(
        "Processed   {} through the NAT Gateway, about ${:.2} at ${}/GB\n",
        human_bytes(analysis.bytes()),
        analysis.cost_usd(),
        analysis.price_per_gb
    ));
    text.push_str(&format!(
        "Direction   {} out to the internet, {} in from it\n",
        human_bytes(analysis.out_bytes),
        human_bytes(analysis.in_bytes)
    ));
    text.push_str(&format!(
        "Records     {} flow records (both sides of the NAT: each byte counted once)\n",
        analysis.records
    ));
    if analysis.rejected_records > 0 {
        text.push_str(&format!(
            "Rejected    {} records, {} (refused by the NAT Gateway, not processed)\n",
            analysis.rejected_records,
            human_bytes(analysis.rejected_bytes)
        ));
    }
    if analysis.truncated {
        text.push_str(&format!(
            "Note        more than {MAX_ROWS} address pairs: the figures cover the largest {MAX_ROWS}\n"
        ));
    }
    if !analysis.services.is_empty() {
        text.push_str("\nAWS services reached through the NAT Gateway:\n");
        for s in &analysis.services {
            let advice = match s.endpoint {
                Endpoint::Gateway => "add a gateway endpoint (free)",
                Endpoint::Interface => "an interface endpoint would bypass NAT",
                Endpoint::None => "no single endpoint serves it",
            };
            text.push_str(&format!(
                "  {:<10} {:>9} {:>4.0}%  {advice}\n",
                s.name,
                human_bytes(s.bytes),
                s.share * 100.0
            ));
        }
    }
    if !analysis.talkers.is_empty() {
        text.push_str("\nTop talkers (instance <-> remote host: out, in):\n");
        for t in analysis.talkers.iter().take(5) {
            let service = t.service.as_deref().map(|s| format!(" ({s})")).unwrap_or_default();
            text.push_str(&format!(
                "  {} <-> {}{service}  {}: {} out, {} in\n",
                t.instance,
                t.remote,
                human_bytes(t.bytes()),
                human_bytes(t.out_bytes),
                human_bytes(t.in_bytes)
            ));
        }
    }
    text
}

/// The subject's figure: bytes processed, and the leading service if one dominates.
pub fn figure(analysis: &Analysis) -> Option<String> {
    if analysis.records == 0 {
        return None;
    }
    let lead = analysis
        .services
        .first()
        .filter(|s| s.share >= 0.2)
        .map(|s| format!(" ({} {:.0}%)", s.name, s.share * 100.0))
        .unwrap_or_default();
    Some(format!("{}{lead}", human_bytes(analysis.bytes())))
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

    let headline = match (&ending, &duration) {
        (Ending::AlarmOk, Some(d)) => format!("recorded {d}, alarm back to OK"),
        (Ending::Timeout, Some(d)) => format!("recorded {d}, stopped at the time limit"),
        (Ending::AlarmOk, None) => "recorded, alarm back to OK".into(),
        (Ending::Timeout, None) => "recorded, stopped at the time limit".into(),
        (Ending::Error { .. }, _) => "recording FAILED".into(),
    };
    let figure = match report.analysis {
        Some(Ok(analysis)) if !matches!(ending, Ending::Error { .. }) => figure(analysis),
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
    line("Why", &event_text(&ending.describe()));
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
            body.push_str(&describe(analysis));
            body.push('\n');
        }
        Some(Err(reason)) => body.push_str(&format!("The recorded window could not be analysed: {reason}\n\n")),
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
    };

    fn recording() -> Recording {
        Recording {
            nat_gateway_id: "nat-0123456789abcdef0".into(),
            execution_arn: "arn:aws:states:eu-west-1:123456789012:execution:sm:e1".into(),
            alarm_at_millis: 1,
            network_interface_ids: vec!["eni-0a".into(), "eni-0b".into()],
            nat_addresses: vec!["10.0.0.220".into()],
            flow_log_ids: vec!["fl-1".into(), "fl-2".into()],
            log_group_name: "/vpc/flowlogs".into(),
            started_at: "2024-05-14T10:15:02Z".into(),
            timeout_seconds: 900,
            record_at_least_until: "2024-05-14T10:20:02Z".into(),
            report_delay_seconds: 300,
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
        let leg = crate::fixtures::row(&[
            ("action", "ACCEPT"),
            ("flowDirection", "egress"),
            ("srcAddr", "10.0.0.220"),
            ("dstAddr", "10.0.1.25"),
            ("pktSrcAddr", "52.216.1.10"),
            ("pktDstAddr", "10.0.1.25"),
            ("pktSrcAwsService", "S3"),
            ("pktDstAwsService", "-"),
            ("totalBytes", "2147483648"),
            ("records", "10"),
        ]);
        let analysis = Ok(crate::analysis::analyse(&[leg], &["10.0.0.220".to_owned()], 0.045).unwrap());
        let report = Report { analysis: Some(&analysis), ..report(Some(&recording), Some(&stop)) };
        let email = compose(&report, &CONTEXT);
        assert_eq!(
            email.subject,
            "NAT Gateway nat-0123456789abcdef0: recorded 12m 32s, alarm back to OK, 2.0 GB (S3 100%)"
        );
        assert!(
            email.body.contains("Processed   2.0 GB through the NAT Gateway, about $0.09 at $0.045/GB\n"),
            "{}",
            email.body
        );
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
    fn durations_read_naturally() {
        assert_eq!(duration_text(42), "42s");
        assert_eq!(duration_text(752), "12m 32s");
        assert_eq!(duration_text(3 * 3600 + 5 * 60 + 9), "3h 05m");
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
    fn the_readmes_example_is_the_email_of_the_nat_legs_fixture() {
        // Given the recording the fixture's records came from
        let recording = Recording {
            network_interface_ids: vec!["eni-0a1b2c3d4e5f67890".into()],
            log_group_name: "/vpc-flowlogs-recorder/nat-recorder".into(),
            ..recording()
        };
        let stop = StopOutput { deleted_flow_log_ids: vec!["fl-0123456789abcdef0".into()], ..stop(Ending::AlarmOk) };
        let rows = crate::fixtures::query_rows("insights/nat-legs.json");
        let analysis = crate::analysis::analyse(&rows, &["10.0.0.220".to_owned()], 0.045);
        let report = Report {
            analysis: Some(&analysis),
            delivery: Some(&Delivery { stopped_at: stop.stopped_at.clone(), complete: true }),
            ..report(Some(&recording), Some(&stop))
        };
        let context = ReportContext {
            region: "us-east-1",
            log_group_name: "/vpc-flowlogs-recorder/nat-recorder",
            query_name: "nat-recorder/Serverless Auto VPC Flow Log Recorder",
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
        let rows = crate::fixtures::query_rows("insights/nat-legs.json");
        crate::analysis::analyse(&rows, &["10.0.0.220".to_owned()], 0.045).unwrap()
    }

    #[test]
    fn the_email_section_reads_in_five_seconds() {
        let analysis = fixture_analysis();
        let text = describe(&analysis);
        assert!(text.starts_with("Processed   818 MB through the NAT Gateway, about $0.04 at $0.045/GB\n"), "{text}");
        assert!(text.contains("Direction   66.0 MB out to the internet, 752 MB in from it\n"), "{text}");
        assert!(
            text.contains("Rejected    100 records, 5.9 KB (refused by the NAT Gateway, not processed)\n"),
            "{text}"
        );
        assert!(text.contains("  S3            701 MB   86%  add a gateway endpoint (free)\n"), "{text}");
        assert!(text.contains("  10.0.1.25 <-> 52.216.1.10 (S3)  701 MB: 1.0 MB out, 700 MB in\n"), "{text}");
        assert!(!text.contains("10.0.0.220"), "{text}");
        assert_eq!(figure(&analysis).as_deref(), Some("818 MB (S3 86%)"));
    }

    #[test]
    fn no_rows_yet_is_said_plainly() {
        let empty = crate::analysis::analyse(&[], &["10.0.0.220".to_owned()], 0.045).unwrap();
        assert_eq!(describe(&empty), "No flow records reached the log group for this window yet.\n");
        assert_eq!(figure(&empty), None);
    }

    #[test]
    fn bytes_read_naturally() {
        assert_eq!(human_bytes(120), "120 B");
        assert_eq!(human_bytes(31_457_280), "30.0 MB");
        assert_eq!(human_bytes(734_003_200), "700 MB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024 / 2), "1.5 GB");
        // TB is the largest unit: a petabyte reads as 1024 TB
        assert_eq!(human_bytes(1 << 50), "1024 TB");
    }

    #[test]
    fn no_rejected_line_when_nothing_was_rejected() {
        let mut analysis = fixture_analysis();
        (analysis.rejected_records, analysis.rejected_bytes) = (0, 0);
        let text = describe(&analysis);
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
