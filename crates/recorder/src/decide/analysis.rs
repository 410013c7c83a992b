//! What the recorded window says, in numbers: the bytes the NAT Gateway processed, each counted
//! once, by direction, by AWS service (each a VPC endpoint candidate) and by talker, and what they
//! cost. The email's words for them are in `notify`.
//!
//! A flow log on a NAT Gateway's interface records each connection in four legs (VPC User Guide,
//! "Flow log record examples", "Traffic through a NAT gateway"), where N is the NAT's private
//! address, I an instance and R the remote host:
//!
//! | leg | direction | srcaddr | dstaddr | pkt-srcaddr | pkt-dstaddr | counted as |
//! |---|---|---|---|---|---|---|
//! | instance to NAT | ingress | I | N | I | R | out (BytesInFromSource) |
//! | NAT to remote | egress | N | R | N | R | - (the same bytes, translated) |
//! | remote to NAT | ingress | R | N | R | N | - (BytesInFromDestination; names no instance) |
//! | NAT to instance | egress | N | I | R | I | in (the same bytes as the leg above) |
//!
//! Only the two private-side legs name both ends, so they are the ones counted: every byte once
//! per direction. Logs Insights cannot tell the legs apart without the NAT's addresses, so
//! [`TRAFFIC_QUERY`] groups by the raw addresses and [`analyse`] applies these rules.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

/// The saved query the stack deploys and the notifier runs, compiled in.
pub const TRAFFIC_QUERY: &str = include_str!("../../../../queries/traffic-by-address.query");

/// Logs Insights returns at most this many rows; a window with more address pairs is cut to the
/// largest ones, and the report says so.
pub const MAX_ROWS: usize = 10_000;

/// AWS bills NAT Gateway processing per GB of 2^30 bytes.
const GB: f64 = 1024.0 * 1024.0 * 1024.0;

/// One result row: field name and value, as GetQueryResults returns them.
pub type Row = Vec<(String, String)>;

/// Limits a saved query to the recording's log streams (one per network interface).
pub fn scoped(query: &str, log_streams: &[String]) -> String {
    let streams = log_streams.iter().map(|s| format!("\"{}\"", s.replace('"', ""))).collect::<Vec<_>>().join(", ");
    format!("filter @logStream in [{streams}]\n| {}", query.trim())
}

/// How a service can be reached without the NAT Gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Endpoint {
    /// S3 and DynamoDB: a gateway endpoint, which costs nothing.
    Gateway,
    /// An interface endpoint (PrivateLink): hourly and per-GB charges, usually far below NAT's.
    Interface,
    /// Addresses AWS tags only as "AMAZON": no single endpoint serves them.
    None,
}

pub fn endpoint_for(service: &str) -> Endpoint {
    match service {
        "S3" | "DYNAMODB" => Endpoint::Gateway,
        "AMAZON" | "CLOUDFRONT" | "ROUTE53" | "ROUTE53_HEALTHCHECKS" | "GLOBALACCELERATOR" => Endpoint::None,
        _ => Endpoint::Interface,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceUse {
    pub name: String,
    pub bytes: u64,
    /// Of all bytes processed, 0 to 1.
    pub share: f64,
    pub endpoint: Endpoint,
}

/// An instance in the VPC and a remote host it exchanged bytes with through the NAT Gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Talker {
    pub instance: String,
    pub remote: String,
    /// The AWS service of the remote address, when `pkt-*-aws-service` names one.
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

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Analysis {
    /// From the VPC to the internet (what BytesInFromSource counts).
    pub out_bytes: u64,
    /// From the internet into the VPC (what BytesInFromDestination counts).
    pub in_bytes: u64,
    /// Flow records in the window, every leg counted.
    pub records: u64,
    /// Traffic the NAT Gateway refused (not processed).
    pub rejected_records: u64,
    pub rejected_bytes: u64,
    pub services: Vec<ServiceUse>,
    pub talkers: Vec<Talker>,
    /// Logs Insights returned [`MAX_ROWS`]: smaller address pairs were left out.
    pub truncated: bool,
    /// RFC 3339: the newest record of the window.
    pub latest_record_at: Option<String>,
    pub price_per_gb: f64,
}

impl Analysis {
    /// Bytes processed by the NAT Gateway, each counted once.
    pub fn bytes(&self) -> u64 {
        self.out_bytes + self.in_bytes
    }

    /// The NAT Gateway processing charge for the recorded bytes.
    pub fn cost_usd(&self) -> f64 {
        self.bytes() as f64 / GB * self.price_per_gb
    }
}

fn field<'a>(row: &'a Row, name: &str) -> Option<&'a str> {
    row.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn address<'a>(row: &'a Row, name: &str) -> Result<&'a str, String> {
    field(row, name).filter(|v| !v.is_empty()).ok_or_else(|| format!("a result row has no {name}: {row:?}"))
}

/// Logs Insights writes sums as decimals, sometimes in exponent form.
fn number(row: &Row, name: &str) -> Result<u64, String> {
    let text = field(row, name).ok_or_else(|| format!("a result row has no {name}: {row:?}"))?;
    text.parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n >= 0.0)
        .map(|n| n.round() as u64)
        .ok_or_else(|| format!("{name} is {text:?}, expected a number of bytes"))
}

/// Logs Insights writes times as `2024-05-14 10:27:31.000` (UTC); RFC 3339 back.
fn insights_time(text: &str) -> Option<String> {
    let time = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").ok()?;
    Some(time.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

fn service(value: Option<&str>) -> Option<String> {
    value.filter(|v| !v.is_empty() && *v != "-").map(str::to_owned)
}

/// Which leg of the NAT a row of grouped records is (see the module's table).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Leg {
    /// Instance to NAT: leaves the VPC.
    Out { instance: String, remote: String, service: Option<String> },
    /// NAT to instance: arrives in the VPC.
    In { instance: String, remote: String, service: Option<String> },
    /// The internet side of the translation: the same bytes as a private-side leg.
    InternetSide,
    /// Refused by the NAT Gateway.
    Rejected,
}

fn leg(row: &Row, nat: &BTreeSet<&str>) -> Result<Leg, String> {
    if field(row, "action") == Some("REJECT") {
        return Ok(Leg::Rejected);
    }
    let (src, dst) = (address(row, "srcAddr")?, address(row, "dstAddr")?);
    let (pkt_src, pkt_dst) = (address(row, "pktSrcAddr")?, address(row, "pktDstAddr")?);
    let is_nat = |a: &str| nat.contains(a);
    if is_nat(dst) && !is_nat(src) && !is_nat(pkt_dst) {
        let service = service(field(row, "pktDstAwsService"));
        return Ok(Leg::Out { instance: src.to_owned(), remote: pkt_dst.to_owned(), service });
    }
    if is_nat(src) && !is_nat(dst) && !is_nat(pkt_src) {
        let service = service(field(row, "pktSrcAwsService"));
        return Ok(Leg::In { instance: dst.to_owned(), remote: pkt_src.to_owned(), service });
    }
    if is_nat(src) || is_nat(dst) {
        return Ok(Leg::InternetSide);
    }
    Err(format!("a record between {src} and {dst} does not pass through the NAT Gateway's addresses {nat:?}"))
}

/// Builds the analysis from the rows of [`TRAFFIC_QUERY`], given the NAT Gateway's private
/// addresses (DescribeNatGateways, `NatGatewayAddresses[].PrivateIp`).
pub fn analyse(rows: &[Row], nat_addresses: &[String], price_per_gb: f64) -> Result<Analysis, String> {
    let nat: BTreeSet<&str> = nat_addresses.iter().map(String::as_str).collect();
    // A row with no fields says nothing (an emulator's answer to a query it cannot run).
    let rows: Vec<&Row> = rows.iter().filter(|row| !row.is_empty()).collect();
    if nat.is_empty() && !rows.is_empty() {
        return Err("the NAT Gateway's private addresses are unknown, so its legs cannot be told apart".into());
    }
    let mut analysis = Analysis {
        out_bytes: 0,
        in_bytes: 0,
        records: 0,
        rejected_records: 0,
        rejected_bytes: 0,
        services: Vec::new(),
        talkers: Vec::new(),
        truncated: rows.len() >= MAX_ROWS,
        latest_record_at: None,
        price_per_gb,
    };
    let mut by_service: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_pair: BTreeMap<(String, String), Talker> = BTreeMap::new();
    for row in rows {
        let (bytes, records) = (number(row, "totalBytes")?, number(row, "records")?);
        analysis.records += records;
        if let Some(at) = field(row, "lastRecordAt").and_then(insights_time) {
            analysis.latest_record_at = analysis.latest_record_at.take().max(Some(at));
        }
        let (instance, remote, service, outbound) = match leg(row, &nat)? {
            Leg::Rejected => {
                analysis.rejected_records += records;
                analysis.rejected_bytes += bytes;
                continue;
            }
            Leg::InternetSide => continue,
            Leg::Out { instance, remote, service } => (instance, remote, service, true),
            Leg::In { instance, remote, service } => (instance, remote, service, false),
        };
        if let Some(name) = &service {
            *by_service.entry(name.clone()).or_default() += bytes;
        }
        let talker = by_pair.entry((instance.clone(), remote.clone())).or_insert_with(|| Talker {
            instance,
            remote,
            service: None,
            out_bytes: 0,
            in_bytes: 0,
        });
        talker.service = talker.service.take().or(service);
        if outbound {
            talker.out_bytes += bytes;
            analysis.out_bytes += bytes;
        } else {
            talker.in_bytes += bytes;
            analysis.in_bytes += bytes;
        }
    }
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
    analysis.talkers = by_pair.into_values().collect();
    analysis.talkers.sort_by(|a, b| b.bytes().cmp(&a.bytes()).then_with(|| a.instance.cmp(&b.instance)));
    Ok(analysis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::query_rows as rows;

    const NAT: &str = "10.0.0.220";
    const MIB: u64 = 1024 * 1024;

    fn analysis() -> Analysis {
        analyse(&rows("insights/nat-legs.json"), &[NAT.to_owned()], 0.045).unwrap()
    }

    // The fixture, leg by leg (legs 1-4 as in the module's table; MiB = 1,048,576 bytes):
    //   A  10.0.1.25 downloads from S3 52.216.1.10:  1 MiB out (legs 1, 2), 700 MiB in (legs 3, 4)
    //   B  10.0.1.30 uploads to 203.0.113.5:        50 MiB out,              2 MiB in
    //   C  10.0.1.41 and 10.0.2.42 with 198.51.100.20: 10 + 5 MiB out, 20 + 30 MiB in; their
    //      internet-side legs fall into one group each (NAT <-> remote), 15 and 50 MiB
    //   D  192.0.2.66 -> NAT, REJECT: 6,000 bytes in 100 records
    // BytesInFromSource   = leg 1s = 1 + 50 + 10 + 5 = 66 MiB = 69,206,016
    // BytesInFromDestination = leg 3s = 700 + 2 + 50 = 752 MiB = 788,529,152 (= the leg 4s)
    // Adding up every row instead would give 2 x 818 MiB + 6,000 bytes.

    #[test]
    fn every_byte_is_counted_once_per_direction() {
        let a = analysis();
        assert_eq!(a.out_bytes, 66 * MIB);
        assert_eq!(a.out_bytes, 69_206_016);
        assert_eq!(a.in_bytes, 752 * MIB);
        assert_eq!(a.bytes(), 818 * MIB);
        // A 40+40+400+400, B 60+60+30+30, C 20+10+30+60+25+35, D 100
        assert_eq!(a.records, 880 + 180 + 180 + 100);
        assert_eq!((a.rejected_records, a.rejected_bytes), (100, 6_000));
        assert!(!a.truncated);
        assert_eq!(a.latest_record_at.as_deref(), Some("2024-05-14T10:27:31Z"));
    }

    #[test]
    fn talkers_are_instances_and_remote_hosts_never_the_nats_own_address() {
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
        assert!(a.talkers.iter().all(|t| t.instance != NAT && t.remote != NAT));
    }

    #[test]
    fn services_are_ranked_with_their_share_of_the_bytes_processed() {
        let a = analysis();
        assert_eq!(a.services.len(), 1);
        // S3: 1 MiB out + 700 MiB in, of 818 MiB
        assert_eq!(a.services[0].name, "S3");
        assert_eq!(a.services[0].bytes, 701 * MIB);
        assert!((a.services[0].share - 701.0 / 818.0).abs() < 1e-9);
        assert_eq!(a.services[0].endpoint, Endpoint::Gateway);
        assert_eq!(endpoint_for("KINESIS_DATA_STREAMS"), Endpoint::Interface);
        assert_eq!(endpoint_for("AMAZON"), Endpoint::None);
    }

    #[test]
    fn the_cost_is_the_bytes_processed_at_the_price_per_gb() {
        // 818 MiB = 0.7988 GiB x $0.045 = $0.0359
        let a = analysis();
        assert!((a.cost_usd() - 818.0 / 1024.0 * 0.045).abs() < 1e-12);
    }

    #[test]
    fn without_the_nats_addresses_the_legs_cannot_be_told_apart() {
        let err = analyse(&rows("insights/nat-legs.json"), &[], 0.045).unwrap_err();
        assert!(err.contains("private addresses are unknown"), "{err}");
    }

    #[test]
    fn a_record_that_does_not_pass_through_the_nat_is_named() {
        let row = crate::fixtures::row(&[
            ("action", "ACCEPT"),
            ("srcAddr", "10.0.1.5"),
            ("dstAddr", "10.0.1.6"),
            ("pktSrcAddr", "10.0.1.5"),
            ("pktDstAddr", "10.0.1.6"),
            ("totalBytes", "1"),
            ("records", "1"),
        ]);
        let err = analyse(&[row], &[NAT.to_owned()], 0.045).unwrap_err();
        assert!(err.starts_with("a record between 10.0.1.5 and 10.0.1.6 does not pass through"), "{err}");
    }

    #[test]
    fn rows_without_fields_say_nothing() {
        let empty = analyse(&[vec![], vec![]], &[], 0.045).unwrap();
        assert_eq!((empty.records, empty.bytes(), empty.talkers.len()), (0, 0, 0));
    }

    #[test]
    fn a_malformed_number_is_named() {
        let mut row = rows("insights/nat-legs.json").remove(0);
        row.retain(|(k, _)| k != "totalBytes");
        row.push(("totalBytes".into(), "lots".into()));
        let err = analyse(&[row.clone()], &[NAT.to_owned()], 0.045).unwrap_err();
        assert_eq!(err, "totalBytes is \"lots\", expected a number of bytes");
        // A number that is no count of bytes is refused too, negative or not finite; the
        // exponent form Logs Insights writes for large sums is read
        for bad in ["-1", "inf", "NaN"] {
            row.retain(|(k, _)| k != "totalBytes");
            row.push(("totalBytes".into(), bad.into()));
            let err = analyse(&[row.clone()], &[NAT.to_owned()], 0.045).unwrap_err();
            assert_eq!(err, format!("totalBytes is {bad:?}, expected a number of bytes"));
        }
        row.retain(|(k, _)| k != "totalBytes");
        row.push(("totalBytes".into(), "1.5E3".into()));
        assert!(analyse(&[row], &[NAT.to_owned()], 0.045).is_ok());
    }

    #[test]
    fn the_query_is_scoped_to_the_recordings_streams() {
        let q = scoped(TRAFFIC_QUERY, &["eni-0a-all".into(), "eni-0b-all".into()]);
        assert!(q.starts_with("filter @logStream in [\"eni-0a-all\", \"eni-0b-all\"]\n| parse @message"), "{q}");
    }
}
