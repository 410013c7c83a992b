//! One inbox for the organization: with ReportTopicArn, the notifier publishes to a central
//! topic instead of the stack's own, and each report names its account (and alias) and Region.
//! moto evaluates the notifier role's actions (sns:Publish, iam:ListAccountAliases) but no
//! resource policy: the central topic's and key's policies (org/central.yaml) are checked as
//! documents in `the_central_topic_takes_reports_only_from_the_organizations_notifiers_over_tls`.

use std::time::Duration;

use aws_sdk_sfn::types::ExecutionStatus;
use recorder_tests::template::{Resolver, Template};
use recorder_tests::{World, ACCOUNT, REGION};

const T0: i64 = 1_715_681_700_123;

#[tokio::test]
async fn reports_go_to_the_central_topic_and_name_their_account_alias_and_region() {
    let world = World::new().await;
    // The account has an alias (an account has one at most: this binary's only test sets it)
    aws_sdk_iam::Client::new(&world.sdk).create_account_alias().account_alias("payments-prod").send().await.unwrap();
    let (central, central_inbox) = world.topic_with_inbox("central-reports").await;
    let key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let d = world.deploy(&[("ReportTopicArn", central.as_str()), ("ReportTopicKeyArn", key)]).await;
    assert_eq!(d.environments["NotifierFunction"]["TOPIC_ARN"], central);

    let exec = d.start(&world.alarm_event("ALARM", T0)).await;
    d.waiting(&exec).await;
    d.deliver("AlarmOkResolverFunction", &world.alarm_event("OK", T0 + 5 * 60_000));
    let done = d.finished(&exec, Duration::from_secs(60)).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");

    let emails = d.emails_in(&central_inbox).await;
    assert_eq!(emails.len(), 1, "{emails:?}");
    let email = &emails[0].1;
    let lead = format!("[payments-prod {REGION}] NAT Gateway {}: recorded", world.nat_gateway_id);
    assert!(email.subject.starts_with(&lead), "{}", email.subject);
    let header = format!("Account     {ACCOUNT} (payments-prod)\nRegion      {REGION}\n");
    assert!(email.body.starts_with(&header), "{}", email.body);
    assert!(d.emails().await.is_empty(), "nothing goes to the stack's own topic");
}

#[test]
fn the_central_topic_takes_reports_only_from_the_organizations_notifiers_over_tls() {
    let central = Template::load_file("org/central.yaml");
    let resolver_of = |stack_name, resources| Resolver { stack_name, region: REGION, account: ACCOUNT, resources };
    let resolver = resolver_of("central", Default::default());
    let statements = |resource: &str, path: &str| {
        let r = central.resource(resource);
        r["Properties"][path]["Statement"].as_sequence().expect("statements").clone()
    };
    // The topic: Publish for principals of the organization under the notifiers' path, TLS only
    let topic = statements("ReportTopicPolicy", "PolicyDocument");
    let publish = topic.iter().find(|s| s["Sid"].as_str() == Some("TheOrganizationsRecordersPublish")).unwrap();
    assert_eq!(publish["Action"].as_str(), Some("sns:Publish"));
    let organization = resolver_of("central", [("OrganizationId".to_owned(), "o-a1b2c3d4e5".to_owned())].into());
    let org = central.resolve(&publish["Condition"]["StringEquals"]["aws:PrincipalOrgID"], &organization);
    assert_eq!(org, "o-a1b2c3d4e5");
    let path = central.resolve(&publish["Condition"]["ArnLike"]["aws:PrincipalArn"], &resolver);
    assert_eq!(path, "arn:aws:iam::*:role/vpc-flowlogs-recorder-reports/*");
    let tls = topic.iter().find(|s| s["Sid"].as_str() == Some("OnlyOverTls")).unwrap();
    assert_eq!(
        (tls["Effect"].as_str(), tls["Condition"]["Bool"]["aws:SecureTransport"].as_str()),
        (Some("Deny"), Some("false"))
    );
    // Only the recorder's notifier lives under that path, and it is allowed to publish
    let recorder = Template::load();
    let stack = resolver_of("nat-recorder", Default::default());
    let role_path = recorder.resolve(&recorder.resource("NotifierRole")["Properties"]["Path"], &stack);
    assert_eq!(role_path, "/vpc-flowlogs-recorder-reports/nat-recorder/");
    for (id, resource) in recorder.root["Resources"].as_mapping().unwrap() {
        if id.as_str() != Some("NotifierRole") && resource["Type"].as_str() == Some("AWS::IAM::Role") {
            let text = format!("{:?}", resource["Properties"]["Path"]);
            assert!(!text.contains("vpc-flowlogs-recorder-reports"), "{id:?} may publish to the central topic: {text}");
        }
    }
    // The key: data keys through SNS in its Region only, for the same principals
    let key = statements("ReportTopicKey", "KeyPolicy");
    let encrypt = key.iter().find(|s| s["Sid"].as_str() == Some("TheOrganizationsRecordersEncryptThroughSns")).unwrap();
    let via = central.resolve(&encrypt["Condition"]["StringEquals"]["kms:ViaService"], &resolver);
    assert_eq!(via, format!("sns.{REGION}.amazonaws.com"));
    assert_eq!(central.resolve(&encrypt["Condition"]["ArnLike"]["aws:PrincipalArn"], &resolver), path);
    // Nothing else: a topic, its policy and its key
    let mut kinds: Vec<&str> =
        central.root["Resources"].as_mapping().unwrap().values().filter_map(|r| r["Type"].as_str()).collect();
    kinds.sort();
    assert_eq!(kinds, ["AWS::KMS::Key", "AWS::SNS::Topic", "AWS::SNS::TopicPolicy"]);
}
