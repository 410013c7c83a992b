//! The organization's template, `org/recorder.yaml`, made from `template.yaml` so the two cannot
//! drift: the same resources, every NAT Gateway of the Region watched (the sweeper keeps their
//! alarms) and no macro, which StackSets with service-managed permissions refuse
//! (CloudFormation User Guide, "Overview of CloudFormation macros"). `make org-template` writes
//! it; a test fails when the committed file differs.

/// The macro's name, which the organization's template must never name.
pub const MACRO: &str = "VpcFlowLogsRecorder-NatGatewayAlarms";

/// Where the organization's template lives in the repository.
pub const PATH: &str = "org/recorder.yaml";

const HEADER: &str = "# Generated from template.yaml by `make org-template`: edit that file, not this one.
# The organization's template (README, \"Across an organization\"): every NAT Gateway of the
# Region is watched, those created later too, and the sweeper keeps their alarms. No macro:
# StackSets with service-managed permissions refuse templates that reference one.
";

/// One edit: `from` must be found exactly `times` times, or the main template changed shape and
/// the edit must be looked at again.
fn replace(text: &str, from: &str, to: &str, times: usize) -> Result<String, String> {
    let found = text.matches(from).count();
    if found != times {
        return Err(format!("template.yaml has {found} of {from:?}, expected {times}: update tests/src/org.rs"));
    }
    Ok(text.replace(from, to))
}

/// Without the parameter `name`: its line at two spaces' indent and the deeper lines under it.
fn without_parameter(text: &str, name: &str) -> Result<String, String> {
    let header = format!("  {name}:");
    let mut lines = text.split_inclusive('\n').peekable();
    let mut out = String::with_capacity(text.len());
    let mut found = false;
    while let Some(line) = lines.next() {
        if line.trim_end() == header {
            found = true;
            while lines.peek().is_some_and(|next| next.starts_with("    ")) {
                lines.next();
            }
            continue;
        }
        out.push_str(line);
    }
    match found {
        true => Ok(out),
        false => Err(format!("template.yaml has no parameter {name}")),
    }
}

/// The organization's template, from the main template's text.
pub fn template(main: &str) -> Result<String, String> {
    let mut text = replace(
        main,
        "# The macro (from the cf-assistive-macros stack, deployed first) adds one alarm per NAT Gateway;
# it runs before SAM's transform.
Transform:
  - VpcFlowLogsRecorder-NatGatewayAlarms
  - AWS::Serverless-2016-10-31
",
        &format!("{HEADER}Transform: AWS::Serverless-2016-10-31\n"),
        1,
    )?;
    text = without_parameter(&text, "NatGatewayIDs")?;
    text = replace(&text, "Parameters: [NatGatewayIDs, AlarmMode,", "Parameters: [AlarmMode,", 1)?;
    text = replace(
        &text,
        "  # One alarm per NAT Gateway comes from the VpcFlowLogsRecorder-NatGatewayAlarms macro: named",
        "  # One alarm per NAT Gateway, kept by the sweeper (recorder::reconcile): named",
        1,
    )?;
    text = replace(
        &text,
        "          # Replaced by the alarms macro with the NAT Gateways it resolved (all included).\n",
        "",
        2,
    )?;
    text = replace(&text, &format!("NAT_GATEWAY_IDS: \"(set by the {MACRO} macro)\""), "NAT_GATEWAY_IDS: all", 3)?;
    text = replace(&text, "With NatGatewayIDs all, the", "The", 1)?;
    text = replace(&text, "; with NatGatewayIDs all, keeps the alarms.", "; keeps the alarms.", 1)?;
    text = replace(&text, "With NatGatewayIDs all, gives", "Gives", 1)?;
    text = replace(&text, "# With NatGatewayIDs all, a change here", "# A change here", 1)?;
    // It lives one folder down: its paths lead back to the repository's root.
    text = replace(&text, "    CodeUri: .\n", "    CodeUri: ..\n", 1)?;
    text = replace(&text, "DefinitionUri: statemachine/", "DefinitionUri: ../statemachine/", 1)?;
    text = replace(&text, "      Watched: !Join [\",\", !Ref NatGatewayIDs]\n", "      Watched: all\n", 1)?;
    if let Some(left) = ["NatGatewayIDs", MACRO].iter().find(|word| text.contains(**word)) {
        return Err(format!("the organization's template still names {left}: update tests/src/org.rs"));
    }
    Ok(text)
}
