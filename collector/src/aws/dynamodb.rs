//! DynamoDB over its JSON protocol (`X-Amz-Target: DynamoDB_20120810.<Action>`).

use std::collections::BTreeMap;

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use serde_json::{json, Value};

use super::{json_error, Aws, Request};
use crate::clock;
use crate::error::{Error, Result};

const SERVICE: &str = "dynamodb";
/// BatchWriteItem takes at most 25 puts per call.
pub const BATCH_WRITE_MAX: usize = 25;
/// Calls spent on items DynamoDB left unprocessed (throttling) before giving up for now.
const UNPROCESSED_ATTEMPTS: u32 = 6;

/// An attribute value, serialised the way DynamoDB's JSON protocol spells it: `{"S":"x"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Attr {
    S(String),
    /// Numbers travel as strings, to keep their precision.
    N(String),
    #[serde(rename = "BOOL")]
    Bool(bool),
    L(Vec<Attr>),
    M(Item),
    #[serde(rename = "NULL")]
    Null(bool),
}

pub type Item = BTreeMap<String, Attr>;

impl Attr {
    pub fn s(v: impl Into<String>) -> Attr {
        Attr::S(v.into())
    }

    pub fn n(v: impl ToString) -> Attr {
        Attr::N(v.to_string())
    }

    /// A JSON value as an attribute; `null` has no useful attribute form and gives `None`.
    pub fn from_json(v: &Value) -> Option<Attr> {
        Some(match v {
            Value::Null => return None,
            Value::Bool(b) => Attr::Bool(*b),
            Value::Number(n) => Attr::N(n.to_string()),
            Value::String(s) => Attr::S(s.clone()),
            Value::Array(a) => Attr::L(a.iter().filter_map(Attr::from_json).collect()),
            Value::Object(o) => Attr::M(
                o.iter()
                    .filter_map(|(k, v)| Some((k.clone(), Attr::from_json(v)?)))
                    .collect(),
            ),
        })
    }

    pub fn as_s(&self) -> Option<&str> {
        match self {
            Attr::S(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Attr::N(n) => n.parse().ok(),
            _ => None,
        }
    }
}

/// One table, reached through [`Aws`].
#[derive(Clone, Debug)]
pub struct DynamoDb {
    aws: Aws,
    table: String,
}

impl DynamoDb {
    pub fn new(aws: Aws, table: impl Into<String>) -> Self {
        DynamoDb {
            aws,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Calls one action; a non-2xx answer becomes an [`Error::Aws`] with DynamoDB's error type.
    pub async fn call<T: DeserializeOwned>(&self, action: &str, body: &Value) -> Result<T> {
        let resp = self
            .aws
            .send(Request {
                service: SERVICE,
                method: http::Method::POST,
                path: "/",
                headers: vec![
                    ("content-type", "application/x-amz-json-1.0".into()),
                    ("x-amz-target", format!("DynamoDB_20120810.{action}")),
                ],
                body: serde_json::to_vec(body).map_err(|e| Error::Runtime(e.to_string()))?,
            })
            .await?;
        if !(200..300).contains(&resp.status) {
            return Err(json_error(SERVICE, &resp));
        }
        serde_json::from_slice(&resp.body).map_err(|e| Error::Aws {
            service: SERVICE,
            status: resp.status,
            code: "BadResponse".into(),
            message: e.to_string(),
        })
    }

    /// Puts every item, 25 per BatchWriteItem call, retrying what DynamoDB leaves unprocessed
    /// with exponential backoff. A put overwrites an item with the same key, so writing the
    /// same items again (a redelivered batch) leaves the table as it was.
    pub async fn put_all(&self, items: Vec<Item>) -> Result<()> {
        #[derive(Deserialize)]
        struct Out {
            #[serde(rename = "UnprocessedItems", default)]
            unprocessed: BTreeMap<String, Vec<Value>>,
        }
        for chunk in items.chunks(BATCH_WRITE_MAX) {
            let mut requests: Vec<Value> = chunk
                .iter()
                .map(|item| json!({ "PutRequest": { "Item": item } }))
                .collect();
            let mut attempt = 0;
            while !requests.is_empty() {
                if attempt == UNPROCESSED_ATTEMPTS {
                    return Err(Error::Aws {
                        service: SERVICE,
                        status: 503,
                        code: "UnprocessedItems".into(),
                        message: format!("{} items still unprocessed", requests.len()),
                    });
                }
                if attempt > 0 {
                    clock::sleep(50 << attempt).await;
                }
                attempt += 1;
                let out: Out = self
                    .call(
                        "BatchWriteItem",
                        &json!({ "RequestItems": { &self.table: requests } }),
                    )
                    .await?;
                requests = out.unprocessed.into_values().next().unwrap_or_default();
            }
        }
        Ok(())
    }

    /// Every item under one partition key, in sort-key order (following pagination).
    pub async fn query_partition(&self, pk: &str) -> Result<Vec<Item>> {
        #[derive(Deserialize)]
        struct Out {
            #[serde(rename = "Items", default)]
            items: Vec<Item>,
            #[serde(rename = "LastEvaluatedKey")]
            last: Option<Item>,
        }
        let mut all = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut body = json!({
                "TableName": self.table,
                "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": { ":pk": Attr::s(pk) },
            });
            if let Some(key) = start.take() {
                body["ExclusiveStartKey"] = json!(key);
            }
            let out: Out = self.call("Query", &body).await?;
            all.extend(out.items);
            match out.last {
                Some(key) => start = Some(key),
                None => return Ok(all),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_use_dynamodb_json_shapes() {
        let v = json!({"s": "x", "n": 1.5, "i": 3, "b": true, "l": [1, "a", null], "m": {"k": "v"}, "z": null});
        let Some(Attr::M(m)) = Attr::from_json(&v) else {
            panic!("not a map")
        };
        assert!(!m.contains_key("z"), "nulls are left out");
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            json!({
                "s": {"S": "x"}, "n": {"N": "1.5"}, "i": {"N": "3"}, "b": {"BOOL": true},
                "l": {"L": [{"N": "1"}, {"S": "a"}]}, "m": {"M": {"k": {"S": "v"}}}
            })
        );
    }

    #[test]
    fn attributes_read_back_from_dynamodb_json() {
        let item: Item = serde_json::from_value(
            json!({"pk": {"S": "a"}, "n": {"N": "0.42"}, "x": {"NULL": true}}),
        )
        .unwrap();
        assert_eq!(item["pk"].as_s(), Some("a"));
        assert_eq!(item["n"].as_f64(), Some(0.42));
        assert_eq!(item["x"], Attr::Null(true));
    }
}
