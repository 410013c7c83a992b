//! The alarms of a stack that watches every NAT Gateway (`NatGatewayIDs = all`): one per NAT
//! Gateway that is pending or available, none for the others. The sweeper reconciles on its
//! schedule, when CloudTrail reports a NAT Gateway created or deleted, and when CloudFormation
//! creates or updates the stack (then every alarm is put again, so a changed parameter reaches
//! them all). Each alarm is the macro's own ([`nat_alarms_macro::resolved_alarm`]).

use std::collections::BTreeSet;

use serde::Serialize;
use tracing::info;

use crate::alarms::Alarms;
use crate::config::AlarmConfig;
use crate::error::{RecorderError, Result};
use crate::event::is_nat_gateway_id;
use crate::flowlogs::FlowLogs;

/// Which alarms to put: the missing ones (a sweep, a NAT Gateway event), or every one (the
/// stack's parameters may have changed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    Missing,
    Every,
}

/// What a reconciliation changed, by NAT Gateway id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlarmsReport {
    pub put: Vec<String>,
    pub deleted: Vec<String>,
}

/// The NAT Gateways whose alarm to put and those whose alarm to delete, from the NAT Gateways in
/// use and those that have an alarm now.
pub fn plan(in_use: &BTreeSet<String>, alarmed: &BTreeSet<String>, put: Put) -> AlarmsReport {
    AlarmsReport {
        put: in_use.iter().filter(|nat| put == Put::Every || !alarmed.contains(*nat)).cloned().collect(),
        deleted: alarmed.difference(in_use).cloned().collect(),
    }
}

/// The NAT Gateways the stack's alarms are for, from their names. An alarm under the prefix
/// whose rest is no NAT Gateway id is not one of ours, and is left alone.
fn alarmed(config: &AlarmConfig, names: &[String]) -> BTreeSet<String> {
    names
        .iter()
        .filter_map(|name| name.strip_prefix(&config.name_prefix))
        .filter(|rest| is_nat_gateway_id(rest))
        .map(str::to_owned)
        .collect()
}

/// Puts and deletes alarms until there is one per NAT Gateway in use. Every alarm is tried; the
/// first failure is returned after the others were done.
pub async fn reconcile(config: &AlarmConfig, ec2: &FlowLogs, alarms: &Alarms, put: Put) -> Result<AlarmsReport> {
    let in_use: BTreeSet<String> = ec2.nat_gateways_in_use().await?.into_iter().collect();
    let names = alarms.names(&config.name_prefix).await?;
    let report = plan(&in_use, &alarmed(config, &names), put);
    let mut failed = Vec::new();
    for nat in &report.put {
        let properties = nat_alarms_macro::resolved_alarm(nat, &config.mode, &config.parameters, &config.stack_name)
            .map_err(RecorderError::InvalidInput)?;
        if let Err(e) = alarms.put(&properties).await {
            failed.push(format!("alarm of {nat}: {e}"));
        }
    }
    let doomed: Vec<String> = report.deleted.iter().map(|nat| format!("{}{nat}", config.name_prefix)).collect();
    if let Err(e) = alarms.delete(&doomed).await {
        failed.push(format!("alarms of deleted NAT Gateways: {e}"));
    }
    info!(?report, ?failed, "alarms reconciled");
    match failed.is_empty() {
        true => Ok(report),
        false => Err(RecorderError::Aws { operation: "alarms", message: failed.join("; ") }),
    }
}

/// Deletes every alarm the prefix names, NAT Gateway or not: the uninstall of a stack that
/// watches all, or its Update to a list.
pub async fn remove_all(name_prefix: &str, alarms: &Alarms) -> Result<Vec<String>> {
    let names = alarms.names(name_prefix).await?;
    alarms.delete(&names).await?;
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[&str]) -> BTreeSet<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_new_nat_gateway_gets_an_alarm_and_a_gone_one_loses_it() {
        let plan = plan(&set(&["nat-1111aaaa", "nat-2222bbbb"]), &set(&["nat-2222bbbb", "nat-3333cccc"]), Put::Missing);
        assert_eq!(plan.put, ["nat-1111aaaa"]);
        assert_eq!(plan.deleted, ["nat-3333cccc"]);
    }

    #[test]
    fn after_a_deploy_every_alarm_is_put_again() {
        let plan = plan(&set(&["nat-1111aaaa", "nat-2222bbbb"]), &set(&["nat-2222bbbb"]), Put::Every);
        assert_eq!(plan.put, ["nat-1111aaaa", "nat-2222bbbb"]);
        assert!(plan.deleted.is_empty());
    }

    #[test]
    fn only_alarms_named_for_a_nat_gateway_are_counted_as_ours() {
        let config = AlarmConfig {
            name_prefix: "s.NatGatewaySpike.".into(),
            stack_name: "s".into(),
            parameters: serde_json::Map::new(),
            mode: nat_alarms_macro::AlarmMode::Static,
        };
        let names = [
            "s.NatGatewaySpike.nat-1234abcd",
            "s.NatGatewaySpike.nat-1234abcd.copy",
            "other.NatGatewaySpike.nat-5678abcd",
        ];
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        assert_eq!(alarmed(&config, &names), set(&["nat-1234abcd"]));
    }
}
