//! What the recorded window says, in numbers: the bytes the NAT Gateway processed, each counted
//! once, by direction, by AWS service and by talker, what reached it and went nowhere, what was
//! refused, skipped or could not be placed, and what it cost. The email's words are in `notify`;
//! the NAT Gateway's own meter, which the figures are checked against, is read by `metrics`.
//!
//! A flow log on a NAT Gateway's interface records each connection in four legs (VPC User Guide,
//! "Flow log record examples", "Traffic through a NAT gateway"), where N is one of the NAT's
//! private addresses, I an instance and R the remote host:
//!
//! | leg | direction | srcaddr | dstaddr | pkt-srcaddr | pkt-dstaddr | counted as | the meter's name |
//! |---|---|---|---|---|---|---|---|
//! | 1 instance to NAT | ingress | I | N | I | R | out | BytesInFromSource |
//! | 2 NAT to remote | egress | N | R | N | R | - (leg 1, translated) | BytesOutToDestination |
//! | 3 remote to NAT | ingress | R | N | R | N | received | BytesInFromDestination |
//! | 4 NAT to instance | egress | N | I | R | I | in | BytesOutToSource |
//!
//! Only the private-side legs name both ends, so they are what is counted and named: every byte
//! once per direction. Leg 3 beyond leg 4 reached the NAT from the remote side and no instance
//! (blocked, dropped or unsolicited: "Monitor NAT gateways using Amazon CloudWatch" says the same
//! of BytesInFromDestination beyond BytesOutToSource), and is a line of its own.
//!
//! Logs Insights cannot tell the legs apart by itself, so the notifier writes the NAT's addresses
//! into the queries ([`queries`]): three grouped by a handful of columns (never near a row limit)
//! give every total, and one by address pair, cut at [`PAIR_LIMIT`], names the talkers; the cut
//! is measured against the totals, so the email says exactly what it left out.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;

/// The flow-log record as Logs Insights reads it: the fields of `flowlogs::LOG_FORMAT`, in order,
/// each separated by one space (VPC User Guide, "Flow log records"). Every saved query and every
/// query of the notifier starts with it.
pub const PARSE: &str = "parse @message \"* * * * * * * * * * * * * * *\" as action, flowDirection, trafficPath, \
srcAddr, srcPort, dstAddr, dstPort, protocol, bytes, type, pktSrcAddr, pktSrcAwsService, pktDstAddr, pktDstAwsService, \
logStatus";

/// The per-pair query returns at most this many rows. The "limit" page of the CloudWatch Logs User
/// Guide allows up to 100,000 (older pages: 10,000); 10,000 rows are about 2 MB of JSON for a
/// 128 MB function, the email names five, and the totals never depend on it.
pub const PAIR_LIMIT: usize = 10_000;

/// AWS's price pages define a GB as 2^30 bytes (Amazon S3 pricing: "GB, also known as gibibyte
/// (GiB), 2^30 bytes"); the NAT Gateway page does not say, and the same is assumed.
pub const GB: f64 = 1024.0 * 1024.0 * 1024.0;

/// What `bytes` cost at a price per GB (of [`GB`] bytes).
pub fn cost_usd(bytes: u64, per_gb: f64) -> f64 {
    bytes as f64 / GB * per_gb
}

/// One result row: field name and value, as GetQueryResults returns them.
pub type Row = Vec<(String, String)>;

/// Limits a query to the recording's log streams (one per network interface).
pub fn scoped(query: &str, log_streams: &[String]) -> String {
    format!("filter @logStream in {}\n| {}", list(log_streams), query.trim())
}

/// A Logs Insights list of strings; quotes inside a value are dropped (no address or stream
/// name has one).
fn list(values: &[String]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("\"{}\"", v.replace(['"', '\\'], ""))).collect();
    format!("[{}]", quoted.join(", "))
}

/// The notifier's queries over one recording, with the NAT Gateway's addresses written in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queries {
    /// Every record by action and log status: the records, the refused, the skipped.
    pub records: String,
    /// Legs 1 and 4 by action, direction and AWS service: out, in and the services.
    pub private: String,
    /// Legs 2 and 3 by action and direction: sent and received on the remote side.
    pub remote: String,
    /// Accepted legs 1 and 4 by address pair, the largest [`PAIR_LIMIT`]: the talkers.
    pub pairs: String,
}

/// The queries for a recording's log streams and the NAT Gateway's private addresses.
pub fn queries(log_streams: &[String], nat_addresses: &[String]) -> Queries {
    let nat = list(nat_addresses);
    let private = format!(
        "(dstAddr in {nat} and srcAddr not in {nat} and pktDstAddr not in {nat}) or \
         (srcAddr in {nat} and dstAddr not in {nat} and pktSrcAddr not in {nat})"
    );
    let remote = format!(
        "(srcAddr in {nat} and pktSrcAddr in {nat} and dstAddr not in {nat}) or \
         (dstAddr in {nat} and pktDstAddr in {nat} and srcAddr not in {nat})"
    );
    let totals = "stats sum(bytes) as totalBytes, count(*) as records";
    let query = |rest: String| scoped(&format!("{PARSE}\n| {rest}"), log_streams);
    Queries {
        records: query(format!("{totals}, max(@timestamp) as lastRecordAt by action, logStatus")),
        private: query(format!(
            "filter {private}\n| {totals} by action, flowDirection, pktSrcAwsService, pktDstAwsService"
        )),
        remote: query(format!("filter {remote}\n| {totals} by action, flowDirection")),
        pairs: query(format!(
            "filter action = \"ACCEPT\" and ({private})\n| stats sum(bytes) as totalBytes by flowDirection, srcAddr, \
             dstAddr, pktSrcAddr, pktDstAddr, pktSrcAwsService, pktDstAwsService\n| sort totalBytes desc\n\
             | limit {PAIR_LIMIT}"
        )),
    }
}

/// The rows each of [`Queries`] returned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answers {
    pub records: Vec<Row>,
    pub private: Vec<Row>,
    pub remote: Vec<Row>,
    pub pairs: Vec<Row>,
}

/// What the email may say about reaching a service without the NAT Gateway (AWS General
/// Reference, "AWS IP address ranges": a range's `service` names who uses the addresses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Endpoint {
    /// S3 and DynamoDB: a gateway endpoint, free, for buckets and tables in the VPC's Region
    /// ("Gateway endpoints": "Endpoints are supported within the same Region only").
    Gateway,
    /// A service with an interface endpoint (PrivateLink) that replaces the public API.
    Interface,
    /// `EC2`: public addresses of EC2 instances, anyone's, not the EC2 API; no endpoint helps.
    PublicEc2,
    /// Any other range (AMAZON, CLOUDFRONT, ROUTE53, ...): named, no advice.
    None,
}

/// The ranges whose traffic an interface endpoint carries instead of the NAT Gateway: the API
/// ranges of services that have one ("AWS services that integrate with AWS PrivateLink": `ebs`
/// for the EBS direct APIs, `kinesisvideo`). Not `API_GATEWAY` (its addresses are "egress only",
/// AWS General Reference, "AWS IP address ranges"), nor `CODEBUILD` or `EC2_INSTANCE_CONNECT`,
/// whose ranges are those services' own hosts. Anything else gets no advice.
const INTERFACE_ENDPOINT_SERVICES: [&str; 2] = ["EBS", "KINESIS_VIDEO_STREAMS"];

/// Every value `pkt-src-aws-service` and `pkt-dst-aws-service` may hold (VPC User Guide, "Flow
/// log records"): a value outside it is not printed as it came.
const AWS_SERVICES: [&str; 26] = [
    "AMAZON",
    "AMAZON_APPFLOW",
    "AMAZON_CONNECT",
    "API_GATEWAY",
    "AURORA_DSQL",
    "CHIME_MEETINGS",
    "CHIME_VOICECONNECTOR",
    "CLOUD9",
    "CLOUDFRONT",
    "CLOUDFRONT_ORIGIN_FACING",
    "CODEBUILD",
    "DYNAMODB",
    "EBS",
    "EC2",
    "EC2_INSTANCE_CONNECT",
    "GLOBALACCELERATOR",
    "IVS_LOW_LATENCY",
    "IVS_REALTIME",
    "KINESIS_VIDEO_STREAMS",
    "MEDIA_PACKAGE_V2",
    "ROUTE53",
    "ROUTE53_HEALTHCHECKS",
    "ROUTE53_HEALTHCHECKS_PUBLISHING",
    "ROUTE53_RESOLVER",
    "S3",
    "WORKSPACES_GATEWAYS",
];

pub fn endpoint_for(service: &str) -> Endpoint {
    match service {
        "S3" | "DYNAMODB" => Endpoint::Gateway,
        "EC2" => Endpoint::PublicEc2,
        s if INTERFACE_ENDPOINT_SERVICES.contains(&s) => Endpoint::Interface,
        _ => Endpoint::None,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceUse {
    pub name: String,
    pub bytes: u64,
    /// Of the bytes out and in, 0 to 1.
    pub share: f64,
    pub endpoint: Endpoint,
}

/// An address in the VPC and a remote host it exchanged bytes with through the NAT Gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Talker {
    pub instance: String,
    pub remote: String,
    /// The AWS range of the remote address, when `pkt-*-aws-service` names one.
    pub service: Option<String>,
    /// From the instance to the remote host, and back.
    pub out_bytes: u64,
    pub in_bytes: u64,
}

impl Talker {
    pub fn bytes(&self) -> u64 {
        self.out_bytes + self.in_bytes
    }
}

/// Records and their bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub records: u64,
    pub bytes: u64,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.records += other.records;
        self.bytes += other.bytes;
    }

    fn less(self, other: Tally) -> Tally {
        Tally { records: self.records.saturating_sub(other.records), bytes: self.bytes.saturating_sub(other.bytes) }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Analysis {
    /// Leg 1, accepted: from the VPC out through the NAT Gateway (BytesInFromSource).
    pub out_bytes: u64,
    /// Leg 4, accepted: back to the VPC (BytesOutToSource).
    pub in_bytes: u64,
    /// Leg 3, accepted: what reached the NAT Gateway from the remote side (BytesInFromDestination).
    pub received_bytes: u64,
    /// Leg 2, accepted: what the NAT Gateway sent on (BytesOutToDestination).
    pub sent_bytes: u64,
    /// Every record of the window, each leg counted, whatever its status.
    pub records: u64,
    /// Refused by a network ACL (a NAT Gateway has no security group: "NAT gateway basics").
    pub rejected: Tally,
    /// `SKIPDATA` records: flows VPC Flow Logs could not capture, each maybe many.
    pub skipped_records: u64,
    /// Records with data that pass through none of the NAT's known addresses as a leg does.
    pub unclassified: Tally,
    pub services: Vec<ServiceUse>,
    /// The largest address pairs, largest first.
    pub talkers: Vec<Talker>,
    /// The per-pair query hit [`PAIR_LIMIT`]: these bytes (out and in) are in smaller pairs.
    pub unattributed_bytes: Option<u64>,
    /// RFC 3339: the newest record of the window.
    pub latest_record_at: Option<String>,
    pub price_per_gb: f64,
}

impl Analysis {
    /// Bytes through the NAT Gateway the records name, each counted once: out and in.
    pub fn bytes(&self) -> u64 {
        self.out_bytes + self.in_bytes
    }

    /// Bytes that reached the NAT from the remote side and no instance.
    pub fn undelivered_bytes(&self) -> u64 {
        self.received_bytes.saturating_sub(self.in_bytes)
    }

    /// How far apart the two sides of the translation are, 0 to 1, when they disagree by more
    /// than 2% of at least 1 MiB: leg 1 (out) and leg 2 (sent) are the same bytes, so a gap
    /// means an address of the NAT Gateway the report does not know (a leg 2 through it reads as
    /// a leg 4, and doubles bytes) or legs the capture lost.
    pub fn sides_disagree(&self) -> Option<f64> {
        let (out, sent) = (self.out_bytes as f64, self.sent_bytes as f64);
        let gap = (out - sent).abs() / out.max(sent).max(1.0);
        (out.max(sent) >= 1024.0 * 1024.0 && gap > 0.02).then_some(gap)
    }

    /// The processing charge for `bytes` at the analysis's price.
    pub fn cost_usd(&self, bytes: u64) -> f64 {
        cost_usd(bytes, self.price_per_gb)
    }
}

/// A row's value of `name`.
pub(crate) fn field<'a>(row: &'a Row, name: &str) -> Option<&'a str> {
    row.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Logs Insights writes sums as decimals, sometimes in exponent form; a field a group lacks
/// (a sum over no number) is 0.
pub(crate) fn number(row: &Row, name: &str) -> Result<u64, String> {
    let Some(text) = field(row, name) else { return Ok(0) };
    text.parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n >= 0.0)
        .map(|n| n.round() as u64)
        .ok_or_else(|| format!("{name} is {:?}, expected a number", text.chars().take(40).collect::<String>()))
}

fn tally(row: &Row) -> Result<Tally, String> {
    Ok(Tally { records: number(row, "records")?, bytes: number(row, "totalBytes")? })
}

/// A time as Logs Insights writes it: `2024-05-14 10:27:31.000` (UTC), RFC 3339 itself, or
/// milliseconds since the epoch.
pub fn insights_instant(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
        .map(|t| t.and_utc())
        .ok()
        .or_else(|| chrono::DateTime::parse_from_rfc3339(text).ok().map(|t| t.to_utc()))
        .or_else(|| text.parse::<i64>().ok().and_then(chrono::DateTime::from_timestamp_millis))
}

/// The same, in RFC 3339 (whole seconds), as the report carries it.
pub fn insights_time(text: &str) -> Option<String> {
    insights_instant(text).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// An AWS range's name as it may be printed: one of AWS's list, else `None`.
fn service(value: Option<&str>) -> Option<String> {
    value.filter(|v| AWS_SERVICES.contains(v)).map(str::to_owned)
}

/// An address as it may be printed: one that parses as an address.
fn address(value: Option<&str>) -> Option<String> {
    value.and_then(|v| v.parse::<IpAddr>().ok()).map(|a| a.to_string())
}

fn accepted(row: &Row) -> bool {
    field(row, "action") == Some("ACCEPT")
}

/// Leg 1 arrives at the NAT's interface, leg 4 leaves it (the `flow-direction` field is "the
/// direction of the flow with respect to the interface": VPC User Guide, "Flow log records").
fn outbound(row: &Row) -> Option<bool> {
    match field(row, "flowDirection") {
        Some("ingress") => Some(true),
        Some("egress") => Some(false),
        _ => None,
    }
}

/// Builds the analysis from the answers to [`queries`].
pub fn analyse(answers: &Answers, price_per_gb: f64) -> Result<Analysis, String> {
    let mut analysis = Analysis {
        out_bytes: 0,
        in_bytes: 0,
        received_bytes: 0,
        sent_bytes: 0,
        records: 0,
        rejected: Tally::default(),
        skipped_records: 0,
        unclassified: Tally::default(),
        services: Vec::new(),
        talkers: Vec::new(),
        unattributed_bytes: None,
        latest_record_at: None,
        price_per_gb,
    };
    let mut with_data = Tally::default();
    for row in answers.records.iter().filter(|row| !row.is_empty()) {
        let t = tally(row)?;
        analysis.records += t.records;
        match field(row, "logStatus") {
            Some("SKIPDATA") => analysis.skipped_records += t.records,
            Some("NODATA") => {}
            _ if field(row, "action") == Some("REJECT") => analysis.rejected.add(t),
            _ => with_data.add(t),
        }
        if let Some(at) = field(row, "lastRecordAt").and_then(insights_time) {
            analysis.latest_record_at = analysis.latest_record_at.take().max(Some(at));
        }
    }
    let mut placed = Tally::default();
    let mut by_service: BTreeMap<String, u64> = BTreeMap::new();
    for row in answers.private.iter().filter(|row| accepted(row)) {
        let t = tally(row)?;
        let (bytes, named) = match outbound(row) {
            Some(true) => (&mut analysis.out_bytes, field(row, "pktDstAwsService")),
            Some(false) => (&mut analysis.in_bytes, field(row, "pktSrcAwsService")),
            None => continue,
        };
        *bytes += t.bytes;
        placed.add(t);
        if let Some(name) = service(named) {
            *by_service.entry(name).or_default() += t.bytes;
        }
    }
    for row in answers.remote.iter().filter(|row| accepted(row)) {
        let t = tally(row)?;
        match outbound(row) {
            Some(true) => analysis.received_bytes += t.bytes,
            Some(false) => analysis.sent_bytes += t.bytes,
            None => continue,
        }
        placed.add(t);
    }
    analysis.unclassified = with_data.less(placed);
    let total = analysis.bytes();
    analysis.services = by_service
        .into_iter()
        .map(|(name, bytes)| ServiceUse {
            endpoint: endpoint_for(&name),
            share: if total == 0 { 0.0 } else { bytes as f64 / total as f64 },
            bytes,
            name,
        })
        .collect();
    analysis.services.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.name.cmp(&b.name)));
    analysis.talkers = talkers(&answers.pairs)?;
    if answers.pairs.len() >= PAIR_LIMIT {
        let named: u64 = analysis.talkers.iter().map(Talker::bytes).sum();
        analysis.unattributed_bytes = Some(total.saturating_sub(named));
    }
    Ok(analysis)
}

/// The talkers from the per-pair rows: the instance is the private end (leg 1's source, leg 4's
/// destination), the remote host the other packet address. A row whose addresses do not parse
/// names nobody: its bytes stay in the totals, and it is left out here.
fn talkers(rows: &[Row]) -> Result<Vec<Talker>, String> {
    let mut by_pair: BTreeMap<(String, String), Talker> = BTreeMap::new();
    for row in rows {
        let bytes = number(row, "totalBytes")?;
        let (instance, remote, named, out) = match outbound(row) {
            Some(true) => ("srcAddr", "pktDstAddr", "pktDstAwsService", true),
            Some(false) => ("dstAddr", "pktSrcAddr", "pktSrcAwsService", false),
            None => continue,
        };
        let (Some(instance), Some(remote)) = (address(field(row, instance)), address(field(row, remote))) else {
            continue;
        };
        let talker = by_pair.entry((instance.clone(), remote.clone())).or_insert_with(|| Talker {
            instance,
            remote,
            service: None,
            out_bytes: 0,
            in_bytes: 0,
        });
        talker.service = talker.service.take().or_else(|| service(field(row, named)));
        if out {
            talker.out_bytes += bytes;
        } else {
            talker.in_bytes += bytes;
        }
    }
    let mut talkers: Vec<Talker> = by_pair.into_values().collect();
    talkers.sort_by(|a, b| b.bytes().cmp(&a.bytes()).then_with(|| a.instance.cmp(&b.instance)));
    Ok(talkers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{nat_answers as answers, row, MIB};

    fn analysis() -> Analysis {
        analyse(&answers(), 0.045).unwrap()
    }

    #[test]
    fn every_byte_is_counted_once_per_direction() {
        let a = analysis();
        assert_eq!((a.out_bytes, a.in_bytes), (66 * MIB, 752 * MIB));
        assert_eq!(a.bytes(), 818 * MIB);
        assert_eq!((a.sent_bytes, a.received_bytes), (66 * MIB, 755 * MIB));
        assert_eq!(a.records, 1251 + 100 + 2 + 1);
        assert_eq!(a.latest_record_at.as_deref(), Some("2024-05-14T10:27:31Z"));
    }

    #[test]
    fn the_two_sides_of_the_translation_are_checked_against_each_other() {
        // The fixture's legs 1 and 2 agree: 66 MiB each
        assert_eq!(analysis().sides_disagree(), None);
        // A leg 2 through an address the report does not know reads as a leg 4: out stays,
        // sent shrinks
        let mut answers = answers();
        answers.remote[0].retain(|(k, _)| k != "totalBytes");
        answers.remote[0].push(("totalBytes".into(), (60 * MIB).to_string()));
        let gap = analyse(&answers, 0.045).unwrap().sides_disagree().unwrap();
        assert!((gap - 6.0 / 66.0).abs() < 1e-9, "{gap}");
    }

    #[test]
    fn bytes_that_reached_the_nat_and_no_instance_are_a_line_of_their_own() {
        // E: leg 3 without a leg 4
        assert_eq!(analysis().undelivered_bytes(), 3 * MIB);
    }

    #[test]
    fn refused_skipped_and_unclassified_records_are_counted_apart() {
        let a = analysis();
        assert_eq!(a.rejected, Tally { records: 100, bytes: 6_000 });
        assert_eq!(a.skipped_records, 2);
        assert_eq!(a.unclassified, Tally { records: 1, bytes: 1_000 });
    }

    #[test]
    fn talkers_are_private_addresses_and_remote_hosts_never_the_nats_own_address() {
        let a = analysis();
        let talkers: Vec<(&str, &str, u64, u64)> =
            a.talkers.iter().map(|t| (t.instance.as_str(), t.remote.as_str(), t.out_bytes, t.in_bytes)).collect();
        assert_eq!(
            talkers,
            [
                ("10.0.1.25", "52.216.1.10", MIB, 700 * MIB),
                ("10.0.1.30", "203.0.113.5", 50 * MIB, 2 * MIB),
                ("10.0.2.42", "198.51.100.20", 5 * MIB, 30 * MIB),
                ("10.0.1.41", "198.51.100.20", 10 * MIB, 20 * MIB),
            ]
        );
        assert_eq!(a.talkers[0].service.as_deref(), Some("S3"));
        assert_eq!(a.unattributed_bytes, None);
    }

    #[test]
    fn text_written_into_the_log_group_by_someone_else_never_reaches_the_email() {
        // Security review L1: anyone allowed logs:PutLogEvents on the group can write a line whose
        // fields say anything. A service name off AWS's list and an address that does not parse
        // are never carried into the analysis, so never printed.
        let lure = "S3  ACTION REQUIRED: sign in at https://evil.example";
        let mut answers = answers();
        answers.private.push(row(&[
            ("action", "ACCEPT"),
            ("flowDirection", "egress"),
            ("pktSrcAwsService", lure),
            ("totalBytes", "5000"),
            ("records", "1"),
        ]));
        answers.pairs.insert(
            0,
            row(&[
                ("flowDirection", "egress"),
                ("srcAddr", "10.0.0.220"),
                ("dstAddr", "10.0.1.25"),
                ("pktSrcAddr", "evil.example"),
                ("pktDstAddr", "10.0.1.25"),
                ("pktSrcAwsService", lure),
                ("pktDstAwsService", "-"),
                ("totalBytes", "999999999999"),
            ]),
        );
        let a = analyse(&answers, 0.045).unwrap();
        let everything = format!("{a:?}");
        assert!(!everything.contains("evil") && !everything.contains("ACTION REQUIRED"), "{everything}");
        assert!(a.talkers.iter().all(|t| t.remote.parse::<IpAddr>().is_ok()), "{:?}", a.talkers);
    }

    #[test]
    fn a_cut_pair_list_says_exactly_how_many_bytes_it_left_out() {
        let mut answers = answers();
        answers.pairs.truncate(3);
        let filler = row(&[
            ("flowDirection", "ingress"),
            ("srcAddr", "10.0.9.9"),
            ("dstAddr", "10.0.0.220"),
            ("pktSrcAddr", "10.0.9.9"),
            ("pktDstAddr", "192.0.2.1"),
            ("totalBytes", "0"),
        ]);
        answers.pairs.extend(std::iter::repeat_n(filler, PAIR_LIMIT - 3));
        let a = analyse(&answers, 0.045).unwrap();
        // Named: 700 + 50 + 30 MiB of 818
        assert_eq!(a.unattributed_bytes, Some(38 * MIB));
        assert_eq!(a.bytes(), 818 * MIB, "the totals do not depend on the cut");
    }

    #[test]
    fn services_are_ranked_with_their_share_and_advice_only_where_it_holds() {
        let a = analysis();
        assert_eq!(a.services.len(), 1);
        assert_eq!((a.services[0].name.as_str(), a.services[0].bytes), ("S3", 701 * MIB));
        assert!((a.services[0].share - 701.0 / 818.0).abs() < 1e-9);
        assert_eq!(endpoint_for("S3"), Endpoint::Gateway);
        assert_eq!(endpoint_for("DYNAMODB"), Endpoint::Gateway);
        assert_eq!(endpoint_for("KINESIS_VIDEO_STREAMS"), Endpoint::Interface);
        assert_eq!(endpoint_for("EC2"), Endpoint::PublicEc2);
        for none in ["AMAZON", "API_GATEWAY", "CODEBUILD", "CLOUDFRONT", "ROUTE53_RESOLVER"] {
            assert_eq!(endpoint_for(none), Endpoint::None, "{none}");
        }
    }

    #[test]
    fn values_outside_awss_lists_are_never_printed_as_they_came() {
        let mut answers = answers();
        answers.private[0].retain(|(k, _)| k != "pktDstAwsService");
        answers.private[0].push(("pktDstAwsService".into(), "<script>".into()));
        answers.pairs[0].retain(|(k, _)| k != "dstAddr");
        answers.pairs[0].push(("dstAddr".into(), "10.0.1.25; rm -rf".into()));
        let a = analyse(&answers, 0.045).unwrap();
        assert_eq!(a.services.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["S3"]);
        assert_eq!(a.services[0].bytes, 700 * MIB, "the unnamed megabyte is in no service");
        assert_eq!(a.bytes(), 818 * MIB, "its bytes still count");
        assert!(a.talkers.iter().all(|t| t.instance.parse::<IpAddr>().is_ok()));
    }

    #[test]
    fn the_cost_is_the_bytes_at_the_price_per_gb() {
        // 818 MiB = 0.7988 GiB x $0.045 = $0.0359
        let a = analysis();
        assert!((a.cost_usd(a.bytes()) - 818.0 / 1024.0 * 0.045).abs() < 1e-12);
    }

    #[test]
    fn an_empty_window_is_all_zero() {
        let empty = analyse(&Answers::default(), 0.045).unwrap();
        assert_eq!((empty.records, empty.bytes(), empty.talkers.len()), (0, 0, 0));
    }

    #[test]
    fn a_malformed_number_is_named() {
        let mut answers = answers();
        answers.remote[0].retain(|(k, _)| k != "totalBytes");
        for bad in ["lots", "-1", "inf", "NaN"] {
            let mut broken = answers.clone();
            broken.remote[0].push(("totalBytes".into(), bad.into()));
            let err = analyse(&broken, 0.045).unwrap_err();
            assert_eq!(err, format!("totalBytes is {bad:?}, expected a number"));
        }
        // The exponent form Logs Insights writes for large sums is read
        answers.remote[0].push(("totalBytes".into(), "6.9206016E7".into()));
        assert_eq!(analyse(&answers, 0.045).unwrap().sent_bytes, 66 * MIB);
    }

    #[test]
    fn times_are_read_in_every_form_logs_insights_writes_them() {
        for text in ["2024-05-14 10:27:31.000", "2024-05-14T10:27:31Z", "1715682451000"] {
            assert_eq!(insights_time(text).as_deref(), Some("2024-05-14T10:27:31Z"), "{text}");
        }
        assert_eq!(insights_time("yesterday"), None);
    }

    #[test]
    fn the_queries_name_the_nats_addresses_and_the_recordings_streams() {
        let q = queries(&["eni-0a-all".into(), "eni-0b-all".into()], &["10.0.0.220".into(), "10.0.0.221".into()]);
        for query in [&q.records, &q.private, &q.remote, &q.pairs] {
            assert!(query.starts_with(&format!("filter @logStream in [\"eni-0a-all\", \"eni-0b-all\"]\n| {PARSE}\n")));
        }
        assert!(q.private.contains("dstAddr in [\"10.0.0.220\", \"10.0.0.221\"] and srcAddr not in"), "{}", q.private);
        assert!(q.pairs.ends_with(&format!("| limit {PAIR_LIMIT}")), "{}", q.pairs);
        assert_eq!(PARSE.matches('*').count(), crate::flowlogs::LOG_FORMAT.matches("${").count());
    }
}
