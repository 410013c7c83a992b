//! The report, end to end on the local stack: the workflow records a spike whose flow records
//! and NAT Gateway metrics the test writes (AWS's documented shapes, `recorder_tests::spike`),
//! the notifier runs its Logs Insights queries (answered by the gateway's development-only
//! evaluator; moto runs no `parse` or `stats`) and reads the meter (moto's CloudWatch, through
//! the gateway's CBOR translation), and the email's every figure is checked against the
//! hand-worked ones: those of the README's example.

use std::time::Duration;

use aws_sdk_sfn::types::ExecutionStatus;
use chrono::{DateTime, Utc};
use recorder_tests::deploy::Deployment;
use recorder_tests::spike::{self, minute};
use recorder_tests::template::read_repo_file;
use recorder_tests::World;

const LIMIT: Duration = Duration::from_secs(60);

/// Records a spike: the ALARM a minute ago, `write` (given the alarm's time) while the flow logs
/// are on, then the OK; the one email.
async fn record(d: &Deployment, write: impl AsyncFnOnce(&World, DateTime<Utc>)) -> recorder::notify::Email {
    let alarm_at = Utc::now() - chrono::Duration::seconds(60);
    let exec = d.start(&d.world.alarm_event("ALARM", alarm_at.timestamp_millis())).await;
    d.waiting(&exec).await;
    write(&d.world, alarm_at).await;
    let ok = d.deliver("AlarmOkResolverFunction", &d.world.alarm_event("OK", Utc::now().timestamp_millis()));
    assert_eq!(ok["outcome"], "resumed", "{ok}");
    let done = d.finished(&exec, LIMIT).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    let mut emails = d.emails().await;
    assert_eq!(emails.len(), 1, "{emails:?}");
    emails.remove(0)
}

/// The README example's lines from `first` up to the first line starting with `until`.
fn readme_lines(first: &str, until: &str) -> Vec<String> {
    let readme = read_repo_file("README.md");
    let example = readme.split("```text\nSubject: ").nth(1).and_then(|rest| rest.split("```").next()).unwrap();
    example
        .lines()
        .skip_while(|l| !l.starts_with(first))
        .take_while(|l| !l.starts_with(until))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn the_report_of_a_spike_reconciles_with_the_meter_and_reads_as_the_readmes_example() {
    let d = World::new().await.deploy(&[]).await;
    // The README's instances: what the report names the addresses by
    let shown_as = d.world.launch_spike_instances().await;
    let email = record(&d, async |world: &World, alarm_at: DateTime<Utc>| {
        let nat = world.nat_private_address().await;
        world.write_flow_records(&spike::records(&nat), Utc::now()).await;
        // The alarm evaluated the minute before it fired (the harness's reason data); the
        // recording runs in this minute
        let before = minute(alarm_at) - chrono::Duration::seconds(60);
        world.put_nat_metrics(&spike::metrics(before, minute(Utc::now()))).await;
    })
    .await;
    let body = &email.body;
    // The meter: 400 + 68 + 765 MiB = 1.2 GiB, $0.05; recorded 833 MiB, explained (66 + 755) / 833
    let line = |label: &str| body.lines().find(|l| l.starts_with(label)).unwrap_or_else(|| panic!("{label}: {body}"));
    let spike = line("This spike  ");
    assert!(spike.starts_with("This spike  1.2 GiB processed "), "{spike}");
    assert!(spike.ends_with(" UTC, about $0.05 at $0.045/GB (the NAT Gateway's metrics)"), "{spike}");
    let recorded = line("Recorded    ");
    assert!(recorded.ends_with(": 833 MiB processed, of which the flow records explain 99%"), "{recorded}");
    assert!(email.subject.ends_with(", 1.2 GiB (S3 86%)"), "{}", email.subject);
    // Every other figure, the services with their advice, the talkers and what holds their
    // addresses, the zone crossed: as the README shows (with this EC2's ids and zones)
    let expected: Vec<String> = readme_lines("Direction   ", "Flow logs removed")
        .into_iter()
        .map(|line| {
            // Through placeholders: a zone may be renamed to another the README also shows
            let marked =
                shown_as.iter().enumerate().fold(line, |l, (i, (readme, _))| l.replace(readme, &format!("<{i}>")));
            shown_as.iter().enumerate().fold(marked, |l, (i, (_, here))| l.replace(&format!("<{i}>"), here))
        })
        .collect();
    assert_eq!(expected.len(), 18, "{expected:?}");
    let shown: Vec<String> = body
        .lines()
        .skip_while(|l| !l.starts_with("Direction   "))
        .take_while(|l| !l.starts_with("Flow logs removed"))
        .map(str::to_owned)
        .collect();
    assert_eq!(shown, expected, "{body}");
}

#[tokio::test]
async fn more_address_pairs_than_the_per_pair_limit_are_all_counted_and_the_cut_is_said() {
    const PAIRS: u64 = recorder::analysis::PAIR_LIMIT as u64 + 1;
    let d = World::new().await.deploy(&[]).await;
    let email = record(&d, async |world: &World, _| {
        let nat = world.nat_private_address().await;
        // One upload per pair, the i-th of 1,000 + i bytes: the smallest, 1,000 bytes, is cut
        let records: Vec<String> = (0..PAIRS)
            .map(|i| {
                let instance = format!("10.0.{}.{}", 100 + i / 200, 10 + i % 200);
                format!(
                    "ACCEPT ingress - {instance} 40000 {nat} 443 6 {} IPv4 {instance} - 203.0.113.{} - OK",
                    1_000 + i,
                    i % 250
                )
            })
            .collect();
        world.write_flow_records(&records, Utc::now()).await;
    })
    .await;
    let body = &email.body;
    // No metrics here: the email says so, and the figures are the flow records' own
    assert!(body.contains("Meter       no NAT Gateway metrics for these minutes yet;"), "{body}");
    let total: u64 = (0..PAIRS).map(|i| 1_000 + i).sum();
    assert_eq!(total, 60_006_000);
    let expected = format!(
        "Processed   {} through the NAT Gateway by the flow records, about $0.00 at $0.045/GB",
        recorder::notify::human_bytes(total)
    );
    assert!(body.contains(&expected), "{body}");
    assert!(body.contains("Direction   57.2 MiB out to the internet, 0 B back to the VPC\n"), "{body}");
    assert!(
        body.contains(
            "Note        the talkers are the largest 10000 address pairs; 1000 B in smaller pairs is in the figures, not named\n"
        ),
        "{body}"
    );
    assert!(body.contains(&format!("Records     {PAIRS} flow records")), "{body}");
}
