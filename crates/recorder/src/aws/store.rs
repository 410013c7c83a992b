//! The recording slots: one DynamoDB item per NAT Gateway, a thin versioned record of
//! [`protocol::Slot`]. Every change is a strongly consistent read, the protocol's pure
//! [`protocol::step`], and a write conditioned on the version read; a conflict (another step
//! wrote in between) reads again and decides again. No decision lives in a condition expression.
//!
//! DynamoDB's condition expressions make the write atomic with the check (Amazon DynamoDB
//! Developer Guide, "Condition expressions"; optimistic locking with a version number is the
//! pattern of "Optimistic locking with version number"), and a strongly consistent read
//! returns every write acknowledged before it ("Read consistency").

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use crate::error::{RecorderError, Result};
use crate::protocol::{self, Input, Outcome, Slot};
use crate::recording::MAX_CLOCK_SKEW_SECS;

const PK: &str = "pk";
const VERSION: &str = "version";
const SLOT: &str = "slot";

/// How often a change is tried when other steps keep writing the slot in between: each try is
/// one read and one write. A NAT Gateway has a handful of steps in flight at most, but a burst of
/// ALARM deliveries can race; between tries, a random wait of up to 40 ms, doubling each time up
/// to 640 ms (under 4 s in all, well within a step's 30 s), spreads them out.
const APPLY_ATTEMPTS: u32 = 10;
const FIRST_BACKOFF_MS: u64 = 20;

/// A random wait of up to `FIRST_BACKOFF_MS << attempt` ("full jitter", as the SDK's own retries
/// wait), drawn from the standard library's per-instance random hash keys: no generator to carry
/// for a few milliseconds.
fn backoff(attempt: u32) -> std::time::Duration {
    use std::hash::{BuildHasher, Hasher};
    let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
    let ceiling = FIRST_BACKOFF_MS << attempt.min(5);
    std::time::Duration::from_millis(random % (ceiling + 1))
}

type Item = HashMap<String, AttributeValue>;

/// The table of recording slots.
#[derive(Debug, Clone)]
pub struct SlotTable {
    client: Client,
    table: String,
}

/// A stored slot and the version it was read at (`None`: no item yet).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Versioned {
    pub slot: Slot,
    pub version: Option<u64>,
}

fn malformed(key: &str, detail: impl std::fmt::Display) -> RecorderError {
    RecorderError::Aws { operation: "reading the recording slot", message: format!("attribute {key}: {detail}") }
}

/// Reads a stored item. A malformed one names the attribute and what was expected.
pub fn versioned_from_item(item: &Item) -> Result<Versioned> {
    let version = match item.get(VERSION) {
        None => None,
        Some(value) => {
            let raw = value.as_n().map_err(|_| malformed(VERSION, format!("{value:?}, expected a number")))?;
            Some(raw.parse::<u64>().map_err(|_| malformed(VERSION, format!("{raw:?}, expected a whole number")))?)
        }
    };
    let slot = match item.get(SLOT) {
        None => Slot::default(),
        Some(value) => {
            let text = value.as_s().map_err(|_| malformed(SLOT, format!("{value:?}, expected a JSON string")))?;
            serde_json::from_str(text).map_err(|e| malformed(SLOT, format!("{e}, expected the slot's JSON")))?
        }
    };
    Ok(Versioned { slot, version })
}

/// The slot with the times no genuine event can have forgotten (see [`Slot::bounded`]): later
/// than now plus the clock skew an ALARM may have. Said in the log, since only a forged or broken
/// item holds one.
fn bounded(nat_gateway_id: &str, slot: Slot) -> Slot {
    let latest = (crate::now() + chrono::Duration::seconds(MAX_CLOCK_SKEW_SECS)).timestamp_millis();
    let (slot, forgot) = slot.bounded(latest);
    if !forgot.is_empty() {
        tracing::warn!(nat_gateway_id, ?forgot, "the stored slot held times in the future; forgotten");
    }
    slot
}

impl SlotTable {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    pub fn from_sdk_config(sdk: &lambda_env::SdkConfig, table: impl Into<String>) -> Self {
        Self::new(Client::new(sdk), table)
    }

    /// The slot as stored now (a strongly consistent read), or `None` if the NAT Gateway was
    /// never recorded.
    pub async fn slot(&self, nat_gateway_id: &str) -> Result<Option<Slot>> {
        Ok(self.read(nat_gateway_id).await?.filter(|v| v.version.is_some()).map(|v| v.slot))
    }

    async fn read(&self, nat_gateway_id: &str) -> Result<Option<Versioned>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(nat_gateway_id.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| RecorderError::from_sdk("DynamoDB GetItem", e))?;
        let read = out.item().map(versioned_from_item).transpose()?;
        Ok(read.map(|v| Versioned { slot: bounded(nat_gateway_id, v.slot), ..v }))
    }

    /// Sends `input` through the protocol for the NAT Gateway's slot and stores the result, if it
    /// changed anything, conditioned on the version read. Returns what the step must do.
    pub async fn apply(&self, nat_gateway_id: &str, input: &Input) -> Result<Outcome> {
        for attempt in 0..APPLY_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(backoff(attempt)).await;
            }
            let current = self.read(nat_gateway_id).await?.unwrap_or_default();
            let outcome = protocol::step(&current.slot, input);
            if outcome.slot == current.slot {
                return Ok(outcome);
            }
            if self.write(nat_gateway_id, &outcome.slot, current.version).await? {
                return Ok(outcome);
            }
        }
        Err(RecorderError::Transient {
            operation: "DynamoDB PutItem (slot)",
            message: format!(
                "the slot of {nat_gateway_id} changed under each of {APPLY_ATTEMPTS} attempts; the step is retried"
            ),
        })
    }

    /// Writes the slot as the next version after `read_version`; `false` when someone wrote
    /// in between.
    async fn write(&self, nat_gateway_id: &str, slot: &Slot, read_version: Option<u64>) -> Result<bool> {
        let json = serde_json::to_string(slot).map_err(|e| RecorderError::Aws {
            operation: "DynamoDB PutItem (slot)",
            message: format!("the slot does not serialise: {e}"),
        })?;
        let next = read_version.map_or(1, |v| v + 1);
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PK, AttributeValue::S(nat_gateway_id.to_owned()))
            .item(VERSION, AttributeValue::N(next.to_string()))
            .item(SLOT, AttributeValue::S(json));
        let request = match read_version {
            None => request.condition_expression(format!("attribute_not_exists({PK})")),
            Some(v) => request
                .condition_expression(format!("{VERSION} = :read"))
                .expression_attribute_values(":read", AttributeValue::N(v.to_string())),
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(PutItemError::is_conditional_check_failed_exception) => {
                Ok(false)
            }
            Err(e) => Err(RecorderError::from_sdk("DynamoDB PutItem (slot)", e)),
        }
    }

    /// Every stored slot (a full scan: one item per NAT Gateway), each read on its own: one
    /// malformed item is reported with its key and never hides the others.
    pub async fn slots(&self) -> Result<Vec<(String, Result<Slot>)>> {
        let items: Vec<Item> = self
            .client
            .scan()
            .table_name(&self.table)
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| RecorderError::from_sdk("DynamoDB Scan", e))?;
        Ok(items
            .iter()
            .map(|item| {
                let key = item.get(PK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_else(|| "(no pk)".into());
                let slot = versioned_from_item(item).map(|v| bounded(&key, v.slot));
                (key, slot)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_reads_into_a_versioned_slot() {
        let item: Item = [
            (PK.to_owned(), AttributeValue::S("nat-1".into())),
            (VERSION.to_owned(), AttributeValue::N("7".into())),
            (SLOT.to_owned(), AttributeValue::S(r#"{"recordings":3,"okSeen":15}"#.into())),
        ]
        .into_iter()
        .collect();
        let read = versioned_from_item(&item).unwrap();
        assert_eq!(read.version, Some(7));
        assert_eq!((read.slot.recordings, read.slot.ok_seen), (3, Some(15)));
    }

    #[test]
    fn a_malformed_item_names_its_attribute_and_what_was_expected() {
        let item: Item = [(VERSION.to_owned(), AttributeValue::S("seven".into()))].into_iter().collect();
        let err = versioned_from_item(&item).unwrap_err().to_string();
        assert!(err.contains("version") && err.contains("expected a number"), "{err}");
        let item: Item = [(SLOT.to_owned(), AttributeValue::S("{not json".into()))].into_iter().collect();
        let err = versioned_from_item(&item).unwrap_err().to_string();
        assert!(err.contains("slot") && err.contains("expected the slot's JSON"), "{err}");
    }

    #[test]
    fn a_slot_round_trips_through_its_json() {
        let slot = Slot {
            alarm_seen: Some(20),
            ok_seen: Some(15),
            decided: Some(10),
            recordings: 1,
            fenced: true,
            ..Slot::default()
        };
        let text = serde_json::to_string(&slot).unwrap();
        assert_eq!(serde_json::from_str::<Slot>(&text).unwrap(), slot);
    }
}
