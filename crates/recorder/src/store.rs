//! The recording slots: one DynamoDB item per NAT Gateway. Every write that changes who owns a
//! slot is conditional, so concurrent executions and resolvers cannot both win.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_dynamodb::Client;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;

use crate::contract::SkipReason;
use crate::error::{RecorderError, Result};
use crate::recording::{why_refused, Claim, Slot, Spike};

const PK: &str = "pk";
const RECORDINGS: &str = "recordings";
const ACTIVE_EXECUTION: &str = "activeExecution";
const ALARM_AT: &str = "alarmAt";
const TASK_TOKEN: &str = "taskToken";
const OK_AT: &str = "okAt";
const FLOW_LOG_IDS: &str = "flowLogIds";
const NETWORK_INTERFACE_IDS: &str = "networkInterfaceIds";
const STARTED_AT: &str = "startedAt";
/// The latest OK of the NAT Gateway's alarm, whether or not a recording was running.
const LAST_OK_AT: &str = "lastOkAt";
/// The latest ALARM episode that began while a recording was waiting for its OK: an OK older
/// than it does not end that recording, which goes on through the new episode.
const LAST_ALARM_AT: &str = "lastAlarmAt";
/// The ALARM episode whose "not recorded, the limit is reached" email went out.
const LIMIT_NOTICE_AT: &str = "limitNoticeAt";

/// How often a claim is tried when the slot changes between the write and the read.
const CLAIM_ATTEMPTS: usize = 3;

type Item = HashMap<String, AttributeValue>;

/// The table of recording slots.
#[derive(Debug, Clone)]
pub struct SlotTable {
    client: Client,
    table: String,
}

fn string_attr(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn number_attr(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn strings(values: &[String]) -> AttributeValue {
    AttributeValue::L(values.iter().cloned().map(AttributeValue::S).collect())
}

/// Whether an UpdateItem failed its condition (every ownership change is an UpdateItem).
fn conditional_failed(err: &SdkError<UpdateItemError, HttpResponse>) -> bool {
    err.as_service_error().is_some_and(UpdateItemError::is_conditional_check_failed_exception)
}

fn text(item: &Item, key: &str) -> Option<String> {
    item.get(key).and_then(|v| v.as_s().ok()).cloned()
}

fn number(item: &Item, key: &str) -> Result<Option<i64>> {
    item.get(key)
        .map(|v| {
            let raw = v.as_n().map_err(|_| malformed(key, v))?;
            raw.parse::<i64>().map_err(|_| malformed(key, v))
        })
        .transpose()
}

fn malformed(key: &str, value: &AttributeValue) -> RecorderError {
    RecorderError::Aws {
        operation: "reading the recording slot",
        message: format!("attribute {key} holds {value:?}, expected a whole number"),
    }
}

/// Reads a stored item into the plain [`Slot`] the decisions take.
pub fn slot_from_item(item: &Item) -> Result<Slot> {
    Ok(Slot {
        active_execution: text(item, ACTIVE_EXECUTION),
        alarm_at_millis: number(item, ALARM_AT)?,
        recordings: number(item, RECORDINGS)?.unwrap_or(0).clamp(0, u32::MAX as i64) as u32,
        task_token: text(item, TASK_TOKEN),
        ok_at_millis: number(item, OK_AT)?,
        started_at: text(item, STARTED_AT),
    })
}

/// What an OK found when it marked the active recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkedOk {
    pub execution_arn: String,
    /// Present when the execution is already waiting: resume it with this token.
    pub task_token: Option<String>,
}

impl SlotTable {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    pub fn from_sdk_config(sdk: &lambda_env::SdkConfig, table: impl Into<String>) -> Self {
        Self::new(Client::new(sdk), table)
    }

    fn key(nat_gateway_id: &str) -> (String, AttributeValue) {
        (PK.to_owned(), string_attr(nat_gateway_id))
    }

    /// An UpdateItem on the NAT Gateway's item; the caller adds the expressions.
    fn update(
        &self,
        nat_gateway_id: &str,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        let (k, v) = Self::key(nat_gateway_id);
        self.client.update_item().table_name(&self.table).key(k, v)
    }

    /// The slot as stored now (a strongly consistent read), or `None` if the NAT Gateway was
    /// never recorded.
    pub async fn slot(&self, nat_gateway_id: &str) -> Result<Option<Slot>> {
        let (k, v) = Self::key(nat_gateway_id);
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(k, v)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| RecorderError::from_sdk("DynamoDB GetItem", e))?;
        out.item().map(slot_from_item).transpose()
    }

    /// Claims the NAT Gateway's slot for `execution_arn` and counts the recording, in one
    /// conditional write: no active recording, a newer ALARM episode than the last one, and
    /// the limit (0 = none) not reached.
    pub async fn claim(
        &self,
        spike: &Spike,
        execution_arn: &str,
        max_recordings: u32,
        started_at: &str,
    ) -> Result<Claim> {
        for _ in 0..CLAIM_ATTEMPTS {
            let mut condition = format!(
                "attribute_not_exists({ACTIVE_EXECUTION}) AND (attribute_not_exists({ALARM_AT}) OR {ALARM_AT} < :alarmAt)"
            );
            let mut request = self
                .update(&spike.nat_gateway_id)
                .update_expression(format!(
                    "SET {ACTIVE_EXECUTION} = :exec, {ALARM_AT} = :alarmAt, {STARTED_AT} = :startedAt, \
                     {RECORDINGS} = if_not_exists({RECORDINGS}, :zero) + :one \
                     REMOVE {TASK_TOKEN}, {OK_AT}, {FLOW_LOG_IDS}, {NETWORK_INTERFACE_IDS}"
                ))
                .expression_attribute_values(":exec", string_attr(execution_arn))
                .expression_attribute_values(":alarmAt", number_attr(spike.alarm_at_millis))
                .expression_attribute_values(":startedAt", string_attr(started_at))
                .expression_attribute_values(":zero", number_attr(0))
                .expression_attribute_values(":one", number_attr(1));
            if max_recordings > 0 {
                condition.push_str(&format!(" AND (attribute_not_exists({RECORDINGS}) OR {RECORDINGS} < :limit)"));
                request = request.expression_attribute_values(":limit", number_attr(max_recordings));
            }
            match request.condition_expression(condition).return_values(ReturnValue::AllNew).send().await {
                Ok(out) => {
                    // An OK of this episode may have come before the ALARM was handled: the
                    // recording then ends as if that OK had come after the claim.
                    let item = out.attributes().cloned().unwrap_or_default();
                    if let Some(ok_at) = number(&item, LAST_OK_AT)?.filter(|ok| *ok > spike.alarm_at_millis) {
                        self.mark_ok(&spike.nat_gateway_id, ok_at).await?;
                    }
                    return Ok(Claim::Claimed);
                }
                Err(e) if conditional_failed(&e) => {
                    let slot = self.slot(&spike.nat_gateway_id).await?.unwrap_or_default();
                    if let Some(claim) = why_refused(&slot, execution_arn, spike, max_recordings) {
                        if claim == Claim::Extends {
                            let nat = &spike.nat_gateway_id;
                            self.raise(nat, LAST_ALARM_AT, spike.alarm_at_millis, "DynamoDB UpdateItem (extend)")
                                .await?;
                        }
                        return Ok(claim);
                    }
                }
                Err(e) => return Err(RecorderError::from_sdk("DynamoDB UpdateItem (claim)", e)),
            }
        }
        Ok(Claim::Refused(SkipReason::AlreadyRecording))
    }

    /// Every slot that names an active execution (a full scan: one item per NAT Gateway).
    pub async fn active_slots(&self) -> Result<Vec<(String, Slot)>> {
        let items: Vec<Item> = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression(format!("attribute_exists({ACTIVE_EXECUTION})"))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| RecorderError::from_sdk("DynamoDB Scan", e))?;
        items
            .iter()
            .filter_map(|item| Some((text(item, PK)?, slot_from_item(item))))
            .map(|(nat, slot)| Ok((nat, slot?)))
            .collect()
    }

    /// Remembers the flow logs of the owner's recording, so a sweep can find them.
    pub async fn record_flow_logs(
        &self,
        nat_gateway_id: &str,
        execution_arn: &str,
        flow_log_ids: &[String],
        network_interface_ids: &[String],
    ) -> Result<()> {
        self.update(nat_gateway_id)
            .update_expression(format!("SET {FLOW_LOG_IDS} = :fl, {NETWORK_INTERFACE_IDS} = :eni"))
            .condition_expression(format!("{ACTIVE_EXECUTION} = :exec"))
            .expression_attribute_values(":fl", strings(flow_log_ids))
            .expression_attribute_values(":eni", strings(network_interface_ids))
            .expression_attribute_values(":exec", string_attr(execution_arn))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.ownership_error(e, nat_gateway_id, execution_arn, "record flow logs"))
    }

    /// Stores the wait's task token, only while `execution_arn` owns the slot. Returns the OK's
    /// time when an OK for this recording arrived before the token: resume at once then.
    pub async fn store_token(
        &self,
        nat_gateway_id: &str,
        execution_arn: &str,
        task_token: &str,
    ) -> Result<Option<i64>> {
        let out = self
            .update(nat_gateway_id)
            .update_expression(format!("SET {TASK_TOKEN} = :token"))
            .condition_expression(format!("{ACTIVE_EXECUTION} = :exec"))
            .expression_attribute_values(":token", string_attr(task_token))
            .expression_attribute_values(":exec", string_attr(execution_arn))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| self.ownership_error(e, nat_gateway_id, execution_arn, "store token"))?;
        let item = out.attributes().cloned().unwrap_or_default();
        number(&item, OK_AT)
    }

    /// Remembers the NAT Gateway's latest OK, so that an ALARM handled after its own OK still
    /// ends at it (see [`Self::claim`]): delivery order does not matter.
    pub async fn remember_ok(&self, nat_gateway_id: &str, ok_at_millis: i64) -> Result<()> {
        // `false`: a later OK is remembered already.
        self.raise(nat_gateway_id, LAST_OK_AT, ok_at_millis, "DynamoDB UpdateItem (remember OK)").await.map(drop)
    }

    /// Whether this ALARM episode is the first whose "limit reached" email goes out: a duplicate
    /// delivery of the same ALARM sends none.
    pub async fn first_limit_notice(&self, nat_gateway_id: &str, alarm_at_millis: i64) -> Result<bool> {
        self.raise(nat_gateway_id, LIMIT_NOTICE_AT, alarm_at_millis, "DynamoDB UpdateItem (limit notice)").await
    }

    /// Sets the time `attribute` to `at_millis` unless it already holds as late a time; `true`
    /// when it was set.
    async fn raise(
        &self,
        nat_gateway_id: &str,
        attribute: &str,
        at_millis: i64,
        operation: &'static str,
    ) -> Result<bool> {
        let result = self
            .update(nat_gateway_id)
            .update_expression(format!("SET {attribute} = :at"))
            .condition_expression(format!("attribute_not_exists({attribute}) OR {attribute} < :at"))
            .expression_attribute_values(":at", number_attr(at_millis))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if conditional_failed(&e) => Ok(false),
            Err(e) => Err(RecorderError::from_sdk(operation, e)),
        }
    }

    /// Marks the active recording as ended by an OK at `ok_at_millis`, if there is one and it
    /// began before that OK. `None`: no recording this OK belongs to.
    pub async fn mark_ok(&self, nat_gateway_id: &str, ok_at_millis: i64) -> Result<Option<MarkedOk>> {
        let result = self
            .update(nat_gateway_id)
            .update_expression(format!("SET {OK_AT} = :ok"))
            .condition_expression(format!(
                "attribute_exists({ACTIVE_EXECUTION}) AND {ALARM_AT} < :ok \
                 AND (attribute_not_exists({LAST_ALARM_AT}) OR {LAST_ALARM_AT} < :ok)"
            ))
            .expression_attribute_values(":ok", number_attr(ok_at_millis))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => {
                let item = out.attributes().cloned().unwrap_or_default();
                let slot = slot_from_item(&item)?;
                let execution_arn = slot.active_execution.ok_or_else(|| RecorderError::Aws {
                    operation: "DynamoDB UpdateItem (mark OK)",
                    message: "the updated item has no activeExecution".into(),
                })?;
                Ok(Some(MarkedOk { execution_arn, task_token: slot.task_token }))
            }
            Err(e) if conditional_failed(&e) => Ok(None),
            Err(e) => Err(RecorderError::from_sdk("DynamoDB UpdateItem (mark OK)", e)),
        }
    }

    /// Releases the slot if `execution_arn` still owns it; `false` when it did not (already
    /// released, or never claimed). The last ALARM time stays; the count too, unless `uncount`
    /// (a recording that never started capturing does not use up `NumOfRecordings`).
    pub async fn release(&self, nat_gateway_id: &str, execution_arn: &str, uncount: bool) -> Result<bool> {
        let remove = format!(
            "REMOVE {ACTIVE_EXECUTION}, {TASK_TOKEN}, {OK_AT}, {FLOW_LOG_IDS}, {NETWORK_INTERFACE_IDS}, {STARTED_AT}"
        );
        let mut request = self
            .update(nat_gateway_id)
            .condition_expression(format!("{ACTIVE_EXECUTION} = :exec"))
            .expression_attribute_values(":exec", string_attr(execution_arn));
        request = if uncount {
            request
                .update_expression(format!("SET {RECORDINGS} = {RECORDINGS} - :one {remove}"))
                .expression_attribute_values(":one", number_attr(1))
        } else {
            request.update_expression(remove)
        };
        let result = request.send().await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if conditional_failed(&e) => Ok(false),
            Err(e) => Err(RecorderError::from_sdk("DynamoDB UpdateItem (release)", e)),
        }
    }

    fn ownership_error(
        &self,
        err: SdkError<UpdateItemError, HttpResponse>,
        nat_gateway_id: &str,
        execution_arn: &str,
        operation: &'static str,
    ) -> RecorderError {
        if conditional_failed(&err) {
            RecorderError::SlotNotOwned {
                nat_gateway_id: nat_gateway_id.to_owned(),
                execution: execution_arn.to_owned(),
            }
        } else {
            RecorderError::from_sdk(operation, err)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_reads_into_a_slot() {
        let item: Item = [
            (PK.to_owned(), string_attr("nat-1")),
            (RECORDINGS.to_owned(), number_attr(3)),
            (ACTIVE_EXECUTION.to_owned(), string_attr("exec")),
            (ALARM_AT.to_owned(), number_attr(1_700_000_000_000i64)),
            (TASK_TOKEN.to_owned(), string_attr("token")),
        ]
        .into_iter()
        .collect();
        let slot = slot_from_item(&item).unwrap();
        assert_eq!(slot.recordings, 3);
        assert_eq!(slot.active_execution.as_deref(), Some("exec"));
        assert_eq!(slot.alarm_at_millis, Some(1_700_000_000_000));
        assert_eq!(slot.task_token.as_deref(), Some("token"));
        assert_eq!(slot.ok_at_millis, None);
    }

    #[test]
    fn a_malformed_number_names_its_attribute() {
        let item: Item = [(ALARM_AT.to_owned(), string_attr("yesterday"))].into_iter().collect();
        let err = slot_from_item(&item).unwrap_err();
        assert!(err.to_string().contains("alarmAt"), "{err}");
    }
}
