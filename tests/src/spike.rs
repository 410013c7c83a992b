//! The README's spike, as VPC Flow Logs and CloudWatch would deliver it: the flow records in the
//! flow log's format (the four legs of "Flow log record examples", "Traffic through a NAT
//! gateway", VPC User Guide) and the NAT Gateway's metrics. The same story as
//! `recorder::fixtures::nat_answers` and `notify`'s `readings`, so the email of a recording that
//! finds these in the log group and the meter reads as the README's example.

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use chrono::{DateTime, Utc};
use recorder::fixtures::MIB;

use crate::World;

/// `count` records of one leg carrying `bytes` in all: `action direction src dst pkt_src
/// pkt_dst services`, the same bytes split as evenly as whole bytes allow.
#[allow(clippy::too_many_arguments)]
fn leg(
    out: &mut Vec<String>,
    action: &str,
    direction: &str,
    (src, dst): (&str, &str),
    (pkt_src, pkt_dst): (&str, &str),
    (src_service, dst_service): (&str, &str),
    bytes: u64,
    count: u64,
) {
    for i in 0..count {
        let share = bytes / count + u64::from(i < bytes % count);
        let port = 40_000 + i;
        out.push(format!(
            "{action} {direction} - {src} {port} {dst} 443 6 {share} IPv4 {pkt_src} {src_service} {pkt_dst} {dst_service} OK"
        ));
    }
}

/// The records, for a NAT Gateway whose private address is `nat` (see the table of
/// `recorder::fixtures::nat_answers`).
pub fn records(nat: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut round_trip = |instance: &str, remote: &str, service: &str, up: (u64, u64), down: (u64, u64)| {
        let s = if service.is_empty() { "-" } else { service };
        leg(&mut out, "ACCEPT", "ingress", (instance, nat), (instance, remote), ("-", s), up.0, up.1);
        leg(&mut out, "ACCEPT", "egress", (nat, remote), (nat, remote), ("-", s), up.0, up.1);
        leg(&mut out, "ACCEPT", "ingress", (remote, nat), (remote, nat), (s, "-"), down.0, down.1);
        leg(&mut out, "ACCEPT", "egress", (nat, instance), (remote, instance), (s, "-"), down.0, down.1);
    };
    // A and B: one instance each
    round_trip("10.0.1.25", "52.216.1.10", "S3", (MIB, 40), (700 * MIB, 400));
    round_trip("10.0.1.30", "203.0.113.5", "", (50 * MIB, 60), (2 * MIB, 30));
    // C: two instances with one remote host; the remote-side legs of both in one group
    let remote = "198.51.100.20";
    let none = ("-", "-");
    leg(&mut out, "ACCEPT", "ingress", ("10.0.1.41", nat), ("10.0.1.41", remote), none, 10 * MIB, 20);
    leg(&mut out, "ACCEPT", "ingress", ("10.0.2.42", nat), ("10.0.2.42", remote), none, 5 * MIB, 10);
    leg(&mut out, "ACCEPT", "egress", (nat, remote), (nat, remote), none, 15 * MIB, 30);
    leg(&mut out, "ACCEPT", "ingress", (remote, nat), (remote, nat), none, 50 * MIB, 60);
    leg(&mut out, "ACCEPT", "egress", (nat, "10.0.1.41"), (remote, "10.0.1.41"), none, 20 * MIB, 25);
    leg(&mut out, "ACCEPT", "egress", (nat, "10.0.2.42"), (remote, "10.0.2.42"), none, 30 * MIB, 35);
    // D: refused by the network ACL; E: reached the NAT, answered by no instance
    leg(&mut out, "REJECT", "ingress", ("192.0.2.66", nat), ("192.0.2.66", nat), none, 6_000, 100);
    leg(&mut out, "ACCEPT", "ingress", ("198.51.100.99", nat), ("198.51.100.99", nat), none, 3 * MIB, 10);
    // F: through no address of the NAT
    leg(&mut out, "ACCEPT", "ingress", ("10.0.1.5", "10.0.1.6"), ("10.0.1.5", "10.0.1.6"), none, 1_000, 1);
    // Intervals VPC Flow Logs could not capture, and one with no traffic ("Flow log records")
    let empty = "- - - - - - - - - - - - - -";
    out.extend([format!("{empty} SKIPDATA"), format!("{empty} SKIPDATA"), format!("{empty} NODATA")]);
    out
}

/// The minute `time` falls in: the timestamp the NAT Gateway gives that minute's datapoint.
pub fn minute(time: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(time.timestamp() - time.timestamp().rem_euclid(60), 0).expect("a representable time")
}

/// The meter, as `notify`'s `readings`: 400 MiB from the VPC in the minute `before`, then while
/// recording (the minute `during`) 68 MiB from the VPC and 765 MiB from the internet.
pub fn metrics(before: DateTime<Utc>, during: DateTime<Utc>) -> Vec<(&'static str, DateTime<Utc>, u64)> {
    vec![
        ("BytesInFromSource", before, 400 * MIB),
        ("BytesInFromSource", during, 68 * MIB),
        ("BytesInFromDestination", during, 765 * MIB),
        ("BytesOutToSource", during, 754 * MIB),
        ("BytesOutToDestination", during, 68 * MIB),
    ]
}

/// The README's instances: address, `Name` tag, the id the README shows, and whether it runs in
/// the NAT Gateway's Availability Zone.
pub const INSTANCES: [(&str, &str, &str, bool); 4] = [
    ("10.0.1.25", "web-1", "i-0a1b2c3d4e5f60001", true),
    ("10.0.1.30", "backup", "i-0a1b2c3d4e5f60002", true),
    ("10.0.1.41", "worker-a", "i-0a1b2c3d4e5f60003", true),
    ("10.0.2.42", "worker-b", "i-0a1b2c3d4e5f60004", false),
];

impl World {
    /// Launches [`INSTANCES`] in the NAT Gateway's VPC: 10.0.1.x in its subnet, 10.0.2.x in a
    /// subnet of another zone. What the README shows, each with what EC2 gave here: the
    /// instances' ids, and the zones (the README's us-east-1a is the NAT's, us-east-1b the other).
    pub async fn launch_spike_instances(&self) -> Vec<(String, String)> {
        use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
        let ec2 = aws_sdk_ec2::Client::new(&self.sdk);
        let gateways = ec2.describe_nat_gateways().nat_gateway_ids(&self.nat_gateway_id).send().await.unwrap();
        let gateway = &gateways.nat_gateways()[0];
        let (vpc, nat_subnet) = (gateway.vpc_id().unwrap().to_owned(), gateway.subnet_id().unwrap().to_owned());
        let subnets = ec2.describe_subnets().subnet_ids(&nat_subnet).send().await.expect("DescribeSubnets");
        let nat_zone = subnets.subnets()[0].availability_zone().unwrap().to_owned();
        let other_zone = if nat_zone == "us-east-1b" { "us-east-1c" } else { "us-east-1b" };
        let other = ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block("10.0.2.0/24")
            .availability_zone(other_zone)
            .send()
            .await
            .expect("CreateSubnet");
        let other_subnet = other.subnet().and_then(|s| s.subnet_id()).unwrap().to_owned();
        let mut ids =
            vec![("us-east-1a".to_owned(), nat_zone.clone()), ("us-east-1b".to_owned(), other_zone.to_owned())];
        for (address, name, shown, same_zone) in INSTANCES {
            let tags = TagSpecification::builder()
                .resource_type(ResourceType::Instance)
                .tags(Tag::builder().key("Name").value(name).build())
                .build();
            let launched = ec2
                .run_instances()
                .image_id("ami-12c6146b")
                .min_count(1)
                .max_count(1)
                .subnet_id(if same_zone { &nat_subnet } else { &other_subnet })
                .private_ip_address(address)
                .tag_specifications(tags)
                .send()
                .await
                .expect("RunInstances");
            ids.push((shown.to_owned(), launched.instances()[0].instance_id().unwrap().to_owned()));
        }
        ids
    }

    /// The NAT Gateway's private address, as DescribeNatGateways gives it.
    pub async fn nat_private_address(&self) -> String {
        let out = aws_sdk_ec2::Client::new(&self.sdk)
            .describe_nat_gateways()
            .nat_gateway_ids(&self.nat_gateway_id)
            .send()
            .await
            .expect("DescribeNatGateways");
        out.nat_gateways()[0].nat_gateway_addresses()[0].private_ip().expect("a private address").to_owned()
    }

    /// Writes records into the interface's stream (`<eni>-all`, made on first use), each stamped
    /// `at`, in batches PutLogEvents takes (at most 10,000 events and 1 MB: CloudWatch Logs API
    /// Reference, "PutLogEvents").
    pub async fn write_flow_records(&self, lines: &[String], at: DateTime<Utc>) {
        use aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata;
        let logs = aws_sdk_cloudwatchlogs::Client::new(&self.sdk);
        let stream = recorder::contract::log_stream_of(&self.network_interface_id);
        let created =
            logs.create_log_stream().log_group_name(&self.log_group_name).log_stream_name(&stream).send().await;
        if let Err(e) = created {
            assert_eq!(e.code(), Some("ResourceAlreadyExistsException"), "CreateLogStream: {e:?}");
        }
        for batch in lines.chunks(5_000) {
            let events = batch
                .iter()
                .map(|line| InputLogEvent::builder().timestamp(at.timestamp_millis()).message(line).build().unwrap())
                .collect();
            logs.put_log_events()
                .log_group_name(&self.log_group_name)
                .log_stream_name(&stream)
                .set_log_events(Some(events))
                .send()
                .await
                .expect("PutLogEvents");
        }
    }

    /// Puts datapoints of the NAT Gateway's metrics (namespace `AWS/NATGateway`, dimension
    /// `NatGatewayId`), as the NAT Gateway publishes them each minute.
    pub async fn put_nat_metrics(&self, points: &[(&str, DateTime<Utc>, u64)]) {
        let data = points
            .iter()
            .map(|(name, at, value)| {
                MetricDatum::builder()
                    .metric_name(*name)
                    .dimensions(Dimension::builder().name("NatGatewayId").value(&self.nat_gateway_id).build())
                    .timestamp(aws_smithy_types::DateTime::from_secs(at.timestamp()))
                    .value(*value as f64)
                    .build()
            })
            .collect();
        aws_sdk_cloudwatch::Client::new(&self.sdk)
            .put_metric_data()
            .namespace("AWS/NATGateway")
            .set_metric_data(Some(data))
            .send()
            .await
            .expect("PutMetricData");
    }
}
