//! The organization's template (`org/recorder.yaml`): made from `template.yaml`, committed as
//! made, and free of any macro (StackSets with service-managed permissions refuse a template
//! that references one: CloudFormation User Guide, "Overview of CloudFormation macros").
//! `make test` also runs the scenario suite on it (`RECORDER_TEMPLATE=org/recorder.yaml`).

use recorder_tests::org;
use recorder_tests::template::{read_repo_file, Template};

#[test]
fn the_organizations_template_is_the_one_template_yaml_makes() {
    let made = org::template(&read_repo_file("template.yaml")).expect("template.yaml makes the org template");
    assert!(read_repo_file(org::PATH) == made, "{} is stale: run `make org-template` and commit it", org::PATH);
}

#[test]
fn the_organizations_template_references_no_macro_and_watches_every_nat_gateway() {
    let text = read_repo_file(org::PATH);
    assert!(!text.contains(org::MACRO), "{} names the macro", org::PATH);
    let template = Template::load_file(org::PATH);
    // SAM's transform alone: it is AWS's own, which StackSets accept
    assert_eq!(template.root["Transform"].as_str(), Some("AWS::Serverless-2016-10-31"));
    assert!(template.root["Parameters"]["NatGatewayIDs"].is_null());
    let main = Template::load();
    let mut watching = 0;
    for (id, _) in main.functions() {
        let variables = &template.resource(&id)["Properties"]["Environment"]["Variables"];
        if !variables["NAT_GATEWAY_IDS"].is_null() {
            assert_eq!(variables["NAT_GATEWAY_IDS"].as_str(), Some("all"), "{id}");
            watching += 1;
        }
    }
    assert_eq!(watching, 3, "StartRecording, the OK resolver and the sweeper read NAT_GATEWAY_IDS");
    // The same resources, of the same types, with the same environment variables
    let kinds = |t: &Template| -> Vec<(String, String, Vec<String>)> {
        let resources = t.root["Resources"].as_mapping().expect("Resources");
        resources
            .iter()
            .map(|(id, r)| {
                let variables = r["Properties"]["Environment"]["Variables"].as_mapping();
                let names = variables.map(|v| v.keys().filter_map(|k| k.as_str().map(str::to_owned)).collect());
                (id.as_str().unwrap().to_owned(), r["Type"].as_str().unwrap().to_owned(), names.unwrap_or_default())
            })
            .collect()
    };
    assert_eq!(kinds(&template), kinds(&main));
}
