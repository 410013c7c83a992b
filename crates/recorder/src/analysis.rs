//! What the recorded window says: bytes, direction, the AWS services reached through the NAT
//! Gateway (each a VPC endpoint candidate), the top talkers, and what it cost to process.
//! Plain functions over the rows Logs Insights returns; [`crate::insights`] fetches them.

use std::collections::BTreeMap;

use serde::Serialize;

/// The saved queries the stack deploys, compiled in: one text for each query.
pub const TOP_TALKERS_QUERY: &str = include_str!("../../../queries/top-talkers.query");
pub const AWS_SERVICES_QUERY: &str = include_str!("../../../queries/aws-services.query");

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
    /// Of all bytes recorded, 0 to 1.
    pub share: f64,
    pub endpoint: Endpoint,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Talker {
    pub source: String,
    pub destination: String,
    /// The AWS service at either end, when `pkt-*-aws-service` names one.
    pub service: Option<String>,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    pub bytes: u64,
    pub records: u64,
    /// Leaving the NAT Gateway's interface (toward the internet or AWS), and arriving at it.
    pub egress_bytes: u64,
    pub ingress_bytes: u64,
    pub services: Vec<ServiceUse>,
    pub talkers: Vec<Talker>,
    pub price_per_gb: f64,
}

impl Analysis {
    /// The NAT Gateway processing charge for the recorded bytes.
    pub fn cost_usd(&self) -> f64 {
        self.bytes as f64 / GB * self.price_per_gb
    }
}

fn field<'a>(row: &'a Row, name: &str) -> Option<&'a str> {
    row.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
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

fn service(value: Option<&str>) -> Option<String> {
    value.filter(|v| !v.is_empty() && *v != "-").map(str::to_owned)
}

/// Builds the analysis from the AWS-services rows (bytes and records by direction and
/// service) and the top-talker rows.
pub fn analyse(service_rows: &[Row], talker_rows: &[Row], price_per_gb: f64) -> Result<Analysis, String> {
    let (mut bytes, mut records, mut egress, mut ingress) = (0u64, 0u64, 0u64, 0u64);
    let mut by_service: BTreeMap<String, u64> = BTreeMap::new();
    // A row with no fields says nothing (an emulator's answer to a query it cannot run).
    for row in service_rows.iter().filter(|row| !row.is_empty()) {
        let row_bytes = number(row, "totalBytes")?;
        bytes += row_bytes;
        records += number(row, "records")?;
        match field(row, "flowDirection") {
            Some("egress") => egress += row_bytes,
            Some("ingress") => ingress += row_bytes,
            _ => {}
        }
        let name = service(field(row, "pktDstAwsService")).or_else(|| service(field(row, "pktSrcAwsService")));
        if let Some(name) = name {
            *by_service.entry(name).or_default() += row_bytes;
        }
    }
    let mut services: Vec<ServiceUse> = by_service
        .into_iter()
        .map(|(name, service_bytes)| ServiceUse {
            endpoint: endpoint_for(&name),
            share: if bytes == 0 { 0.0 } else { service_bytes as f64 / bytes as f64 },
            bytes: service_bytes,
            name,
        })
        .collect();
    services.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.name.cmp(&b.name)));
    let mut talkers = talker_rows
        .iter()
        .filter(|row| !row.is_empty())
        .map(|row| {
            Ok(Talker {
                source: field(row, "pktSrcAddr").unwrap_or("?").to_owned(),
                destination: field(row, "pktDstAddr").unwrap_or("?").to_owned(),
                service: service(field(row, "pktDstAwsService")).or_else(|| service(field(row, "pktSrcAwsService"))),
                bytes: number(row, "totalBytes")?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    talkers.sort_by_key(|t| std::cmp::Reverse(t.bytes));
    Ok(Analysis { bytes, records, egress_bytes: egress, ingress_bytes: ingress, services, talkers, price_per_gb })
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
        "Recorded    {} in {} records, about ${:.2} of NAT processing at ${}/GB\n",
        human_bytes(analysis.bytes),
        analysis.records,
        analysis.cost_usd(),
        analysis.price_per_gb
    ));
    text.push_str(&format!(
        "Direction   {} out of the NAT Gateway, {} into it\n",
        human_bytes(analysis.egress_bytes),
        human_bytes(analysis.ingress_bytes)
    ));
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
        text.push_str("\nTop talkers:\n");
        for t in analysis.talkers.iter().take(5) {
            let service = t.service.as_deref().map(|s| format!(" ({s})")).unwrap_or_default();
            text.push_str(&format!("  {} -> {}{service}  {}\n", t.source, t.destination, human_bytes(t.bytes)));
        }
    }
    text
}

/// The subject's headline figure: total bytes, and the leading service if one dominates.
pub fn headline(analysis: &Analysis) -> Option<String> {
    if analysis.records == 0 {
        return None;
    }
    let lead = analysis
        .services
        .first()
        .filter(|s| s.share >= 0.2)
        .map(|s| format!(" ({} {:.0}%)", s.name, s.share * 100.0))
        .unwrap_or_default();
    Some(format!("{}{lead}", human_bytes(analysis.bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_fixtures::fixture;

    /// Rows from a fixture shaped like GetQueryResults' `results`.
    fn rows(name: &str) -> Vec<Row> {
        fixture(name)["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| {
                row.as_array()
                    .unwrap()
                    .iter()
                    .map(|f| (f["field"].as_str().unwrap().to_owned(), f["value"].as_str().unwrap().to_owned()))
                    .collect()
            })
            .collect()
    }

    fn analysis() -> Analysis {
        analyse(&rows("insights/aws-services.json"), &rows("insights/top-talkers.json"), 0.045).unwrap()
    }

    #[test]
    fn totals_and_direction_add_up_every_row() {
        let a = analysis();
        assert_eq!(a.bytes, 734_003_200 + 31_457_280 + 104_857_600 + 52_428_800 + 6_291_456 + 120);
        assert_eq!(a.records, 412 + 97 + 55 + 31 + 12 + 1);
        assert_eq!(a.egress_bytes, 31_457_280 + 6_291_456);
        assert_eq!(a.ingress_bytes, a.bytes - a.egress_bytes);
    }

    #[test]
    fn services_are_ranked_with_their_share_and_endpoint() {
        let a = analysis();
        let names: Vec<&str> = a.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["S3", "DYNAMODB"]);
        assert_eq!(a.services[0].bytes, 734_003_200 + 31_457_280);
        assert!((a.services[0].share - 765_460_480.0 / a.bytes as f64).abs() < 1e-9);
        assert_eq!(a.services[0].endpoint, Endpoint::Gateway);
        assert_eq!(endpoint_for("KINESIS_DATA_STREAMS"), Endpoint::Interface);
        assert_eq!(endpoint_for("AMAZON"), Endpoint::None);
    }

    #[test]
    fn the_cost_is_the_bytes_at_the_price_per_gb() {
        let a = analysis();
        assert!((a.cost_usd() - a.bytes as f64 / GB * 0.045).abs() < 1e-12);
        assert!((a.cost_usd() - 0.0389).abs() < 0.0001, "{}", a.cost_usd());
    }

    #[test]
    fn top_talkers_name_the_service_at_either_end() {
        let a = analysis();
        assert_eq!(
            a.talkers[0],
            Talker {
                source: "52.216.1.10".into(),
                destination: "10.0.1.25".into(),
                service: Some("S3".into()),
                bytes: 734_003_200
            }
        );
        assert_eq!(a.talkers.last().unwrap().service, None);
    }

    #[test]
    fn the_email_section_reads_in_five_seconds() {
        let text = describe(&analysis());
        assert!(
            text.starts_with("Recorded    886 MB in 608 records, about $0.04 of NAT processing at $0.045/GB\n"),
            "{text}"
        );
        assert!(text.contains("  S3            730 MB   82%  add a gateway endpoint (free)\n"), "{text}");
        assert!(text.contains("  52.216.1.10 -> 10.0.1.25 (S3)  700 MB\n"), "{text}");
        assert_eq!(headline(&analysis()).as_deref(), Some("886 MB (S3 82%)"));
    }

    #[test]
    fn no_rows_yet_is_said_plainly() {
        let empty = analyse(&[], &[], 0.045).unwrap();
        assert_eq!(describe(&empty), "No flow records reached the log group for this window yet.\n");
        assert_eq!(headline(&empty), None);
    }

    #[test]
    fn rows_without_fields_say_nothing() {
        let empty = analyse(&[vec![], vec![]], &[vec![]], 0.045).unwrap();
        assert_eq!((empty.records, empty.bytes, empty.talkers.len()), (0, 0, 0));
    }

    #[test]
    fn a_malformed_number_is_named() {
        let row: Row = vec![("totalBytes".into(), "lots".into()), ("records".into(), "1".into())];
        let err = analyse(&[row], &[], 0.045).unwrap_err();
        assert_eq!(err, "totalBytes is \"lots\", expected a number of bytes");
    }

    #[test]
    fn queries_are_scoped_to_the_recordings_streams() {
        let q = scoped(AWS_SERVICES_QUERY, &["eni-0a-all".into(), "eni-0b-all".into()]);
        assert!(q.starts_with("filter @logStream in [\"eni-0a-all\", \"eni-0b-all\"]\n| parse @message"), "{q}");
    }

    #[test]
    fn bytes_read_naturally() {
        assert_eq!(human_bytes(120), "120 B");
        assert_eq!(human_bytes(31_457_280), "30.0 MB");
        assert_eq!(human_bytes(734_003_200), "700 MB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024 / 2), "1.5 GB");
    }
}
