//! DynamoDB over its JSON protocol (`X-Amz-Target: DynamoDB_20120810.<Action>`).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use serde_json::{json, Value};

use super::item_json::{self, ItemJson};
use super::Aws;
use crate::clock;
use crate::error::{Error, Result};
use crate::subrequests::Budget;

const SERVICE: &str = "dynamodb";
/// BatchWriteItem takes at most 25 puts per call.
pub const BATCH_WRITE_MAX: usize = 25;
/// BatchGetItem takes at most 100 keys per call.
pub const BATCH_GET_MAX: usize = 100;
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

/// Whether DynamoDB can hold this number: zero, or a magnitude from 1e-130 to under 1e126.
/// Validation refuses any other, since every write of it would fail, retry and dead-letter.
pub fn storable_number(n: f64) -> bool {
    n == 0.0 || (1e-130..1e126).contains(&n.abs())
}

/// Deepest nesting accepted in free-form JSON (log attributes). DynamoDB allows 32 levels
/// in an item; such values sit a level or two below the item's top.
pub const MAX_DEPTH: usize = 16;

/// Why DynamoDB would refuse this JSON value inside an item, if it would.
pub fn unstorable(v: &Value) -> Option<&'static str> {
    fn check(v: &Value, depth: usize) -> Option<&'static str> {
        match v {
            Value::Number(n) if !n.as_f64().is_some_and(storable_number) => {
                Some("numbers must be 0 or of magnitude 1e-130 up to 1e126")
            }
            Value::Array(_) | Value::Object(_) if depth >= MAX_DEPTH => {
                Some("nested too deep (at most 16 levels)")
            }
            Value::Array(a) => a.iter().find_map(|v| check(v, depth + 1)),
            Value::Object(o) => o.iter().find_map(|(k, v)| {
                if k.is_empty() {
                    Some("names must not be empty")
                } else {
                    check(v, depth + 1)
                }
            }),
            _ => None,
        }
    }
    check(v, 0)
}

impl Attr {
    pub fn s(v: impl Into<String>) -> Attr {
        Attr::S(v.into())
    }

    pub fn n(v: impl ToString) -> Attr {
        Attr::N(v.to_string())
    }

    /// A JSON value as an attribute; `null` has no useful attribute form and gives `None`.
    pub fn from_value(v: Value) -> Option<Attr> {
        Some(match v {
            Value::Null => return None,
            Value::Bool(b) => Attr::Bool(b),
            Value::Number(n) => Attr::N(n.to_string()),
            Value::String(s) => Attr::S(s),
            Value::Array(a) => Attr::L(a.into_iter().filter_map(Attr::from_value).collect()),
            Value::Object(o) => Attr::M(
                o.into_iter()
                    .filter_map(|(k, v)| Some((k, Attr::from_value(v)?)))
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

/// An `UpdateItem` as counters to add and attributes to set; names and values are bound as
/// placeholders, so any attribute name is safe (reserved words, `#`, spaces).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Update {
    pub key: Item,
    pub add: Vec<(String, u64)>,
    pub set: Vec<(String, Attr)>,
}

/// Most counters one [`Update`] adds. DynamoDB refuses an `UpdateExpression` over 4 KB, about
/// 300 `#aN :aN` terms; a batch's clicks can fill more grid cells than that.
pub const UPDATE_MAX_ADDS: usize = 200;

impl Update {
    /// This update as updates of the same item, each adding at most [`UPDATE_MAX_ADDS`]
    /// counters and setting the same attributes. They must go in separate transactions:
    /// DynamoDB refuses one that touches an item twice.
    pub fn split(self) -> Vec<Update> {
        if self.add.len() <= UPDATE_MAX_ADDS {
            return vec![self];
        }
        self.add
            .chunks(UPDATE_MAX_ADDS)
            .map(|add| Update {
                key: self.key.clone(),
                add: add.to_vec(),
                set: self.set.clone(),
            })
            .collect()
    }

    fn to_json<'a>(&'a self, table: &'a str) -> UpdateJson<'a> {
        let mut names = BTreeMap::new();
        let mut values = BTreeMap::new();
        let mut bind = |prefix: &str, i: usize, name: &'a str, value: Cow<'a, Attr>| {
            let (n, v) = (format!("#{prefix}{i}"), format!(":{prefix}{i}"));
            names.insert(n.clone(), name);
            values.insert(v.clone(), value);
            (n, v)
        };
        let adds: Vec<String> = self
            .add
            .iter()
            .enumerate()
            .map(|(i, (name, n))| {
                let (n, v) = bind("a", i, name, Cow::Owned(Attr::n(n)));
                format!("{n} {v}")
            })
            .collect();
        let sets: Vec<String> = self
            .set
            .iter()
            .enumerate()
            .map(|(i, (name, value))| {
                let (n, v) = bind("s", i, name, Cow::Borrowed(value));
                format!("{n} = {v}")
            })
            .collect();
        let mut expression = Vec::new();
        if !adds.is_empty() {
            expression.push(format!("ADD {}", adds.join(", ")));
        }
        if !sets.is_empty() {
            expression.push(format!("SET {}", sets.join(", ")));
        }
        UpdateJson {
            table,
            key: &self.key,
            expression: expression.join(" "),
            names,
            values,
            return_values: None,
        }
    }
}

/// An [`Update`] as DynamoDB's `UpdateItem` (and a transaction's `Update`) spell it.
#[derive(Serialize)]
struct UpdateJson<'a> {
    #[serde(rename = "TableName")]
    table: &'a str,
    #[serde(rename = "Key")]
    key: &'a Item,
    #[serde(rename = "UpdateExpression")]
    expression: String,
    #[serde(rename = "ExpressionAttributeNames")]
    names: BTreeMap<String, &'a str>,
    #[serde(rename = "ExpressionAttributeValues")]
    values: BTreeMap<String, Cow<'a, Attr>>,
    #[serde(rename = "ReturnValues", skip_serializing_if = "Option::is_none")]
    return_values: Option<&'static str>,
}

/// A `BatchWriteItem` body: `{"RequestItems":{"<table>":[…]}}`.
#[derive(Serialize)]
struct BatchWrite<'a, R> {
    #[serde(rename = "RequestItems")]
    items: BTreeMap<&'a str, &'a [R]>,
}

impl<'a, R: Serialize> BatchWrite<'a, R> {
    fn new(table: &'a str, requests: &'a [R]) -> Self {
        BatchWrite {
            items: BTreeMap::from([(table, requests)]),
        }
    }
}

/// The body of a `BatchWriteItem` putting `items` into `table`:
/// `{"RequestItems":{"<table>":[{"PutRequest":{"Item":…}},…]}}`.
pub fn batch_write_body(table: &str, items: &[ItemJson]) -> Vec<u8> {
    let size: usize = items.iter().map(|i| i.as_bytes().len() + 32).sum();
    let mut body = Vec::with_capacity(size + table.len() + 32);
    body.extend_from_slice(b"{\"RequestItems\":{");
    item_json::string(&mut body, table);
    body.extend_from_slice(b":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(b"{\"PutRequest\":{\"Item\":");
        body.extend_from_slice(item.as_bytes());
        body.extend_from_slice(b"}}");
    }
    body.extend_from_slice(b"]}}");
    body
}

/// One action of a `TransactWriteItems`.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Put the item only if no item has its key: the guard of a guarded transaction.
    PutNew(Item),
    Update(Update),
}

/// How a guarded transaction went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    /// The first action's condition failed: this transaction was applied before (a redelivery),
    /// and nothing changed now.
    AlreadyApplied,
}

/// Most actions in one `TransactWriteItems`.
pub const TRANSACT_MAX: usize = 100;

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

    /// Calls one DynamoDB action.
    pub async fn call<T: DeserializeOwned>(
        &self,
        action: &str,
        body: &(impl Serialize + ?Sized),
    ) -> Result<T> {
        self.aws
            .json(SERVICE, &format!("DynamoDB_20120810.{action}"), body)
            .await
    }

    /// Puts every item, 25 per BatchWriteItem call, retrying what DynamoDB leaves unprocessed
    /// with exponential backoff. A put overwrites an item with the same key, so writing the
    /// same items again (a redelivered batch) leaves the table as it was.
    pub async fn put_all(&self, items: Vec<ItemJson>) -> Result<()> {
        #[derive(Deserialize)]
        struct Out {
            #[serde(rename = "UnprocessedItems", default)]
            unprocessed: BTreeMap<String, Vec<Value>>,
        }
        for chunk in items.chunks(BATCH_WRITE_MAX) {
            // The items come written (see `item_json`): building a JSON tree of each first
            // cost more CPU than anything else the consumer does. Only what DynamoDB hands
            // back as unprocessed (rare: throttling) travels as a tree.
            let mut unprocessed: Option<Vec<Value>> = None;
            for attempt in 0.. {
                let left = unprocessed.as_ref().map_or(0, Vec::len);
                before_attempt(attempt, "Items", left).await?;
                let out: Out = match &unprocessed {
                    None => {
                        let body = batch_write_body(&self.table, chunk);
                        self.aws
                            .json_body(SERVICE, "DynamoDB_20120810.BatchWriteItem", body)
                            .await?
                    }
                    Some(left) => {
                        self.call("BatchWriteItem", &BatchWrite::new(&self.table, left))
                            .await?
                    }
                };
                match out.unprocessed.into_values().next() {
                    Some(left) if !left.is_empty() => unprocessed = Some(left),
                    _ => break,
                }
            }
        }
        Ok(())
    }

    /// Applies `writes` all or nothing. The first is expected to be the guard (a [`Write::PutNew`]
    /// marker): if its condition fails the outcome is [`Outcome::AlreadyApplied`]; any other
    /// cancellation is an error.
    pub async fn transact(&self, writes: &[Write]) -> Result<Outcome> {
        #[derive(Serialize)]
        enum Action<'a> {
            Put {
                #[serde(rename = "TableName")]
                table: &'a str,
                #[serde(rename = "Item")]
                item: &'a Item,
                #[serde(rename = "ConditionExpression")]
                condition: &'static str,
            },
            Update(UpdateJson<'a>),
        }
        #[derive(Serialize)]
        struct Transaction<'a> {
            #[serde(rename = "TransactItems")]
            items: Vec<Action<'a>>,
        }
        let items = writes
            .iter()
            .map(|w| match w {
                Write::PutNew(item) => Action::Put {
                    table: &self.table,
                    item,
                    condition: "attribute_not_exists(pk)",
                },
                Write::Update(u) => Action::Update(u.to_json(&self.table)),
            })
            .collect();
        match self
            .call::<Value>("TransactWriteItems", &Transaction { items })
            .await
        {
            Ok(_) => Ok(Outcome::Applied),
            Err(Error::Aws { code, message, .. })
                if code == "TransactionCanceledException" && guard_failed(&message) =>
            {
                Ok(Outcome::AlreadyApplied)
            }
            Err(e) => Err(e),
        }
    }

    /// Puts `item` unless an item with its key exists that `owner` did not put; returns whether
    /// it was put. (The owner is kept in the item: a put whose answer was lost and that is sent
    /// again finds its own item, and is still the one that put it.)
    pub async fn put_new(&self, item: &Item, owner: &str) -> Result<bool> {
        let mut item = item.clone();
        item.insert("owner".into(), Attr::s(owner));
        let body = json!({
            "TableName": self.table,
            "Item": item,
            "ConditionExpression": "attribute_not_exists(pk) OR #owner = :owner",
            "ExpressionAttributeNames": { "#owner": "owner" },
            "ExpressionAttributeValues": { ":owner": Attr::s(owner) },
        });
        match self.call::<Value>("PutItem", &body).await {
            Ok(_) => Ok(true),
            Err(Error::Aws { code, .. }) if code == "ConditionalCheckFailedException" => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub async fn update(&self, update: &Update) -> Result<()> {
        self.call::<Value>("UpdateItem", &update.to_json(&self.table))
            .await
            .map(drop)
    }

    /// Applies `update` and returns the new value of its counter `attr`, atomically: two
    /// writers adding 1 at once see different values.
    pub async fn add_and_read(&self, update: &Update, attr: &str) -> Result<u64> {
        #[derive(Deserialize)]
        struct Out {
            #[serde(rename = "Attributes", default)]
            attributes: Item,
        }
        let mut body = update.to_json(&self.table);
        body.return_values = Some("UPDATED_NEW");
        let out: Out = self.call("UpdateItem", &body).await?;
        Ok(out
            .attributes
            .get(attr)
            .and_then(Attr::as_f64)
            .unwrap_or(0.0) as u64)
    }

    pub async fn get(&self, key: &Item) -> Result<Option<Item>> {
        #[derive(Deserialize)]
        struct Out {
            #[serde(rename = "Item")]
            item: Option<Item>,
        }
        let body = json!({ "TableName": self.table, "Key": key, "ConsistentRead": true });
        Ok(self.call::<Out>("GetItem", &body).await?.item)
    }

    /// The items with these keys that exist, in no particular order: 100 keys per
    /// BatchGetItem call, retrying what DynamoDB leaves unprocessed with backoff. Strongly
    /// consistent, like [`get`](Self::get).
    pub async fn get_many(&self, keys: &[Item]) -> Result<Vec<Item>> {
        #[derive(Deserialize)]
        struct Out {
            #[serde(rename = "Responses", default)]
            found: BTreeMap<String, Vec<Item>>,
            #[serde(rename = "UnprocessedKeys", default)]
            unprocessed: BTreeMap<String, Unprocessed>,
        }
        #[derive(Deserialize)]
        struct Unprocessed {
            #[serde(rename = "Keys", default)]
            keys: Vec<Item>,
        }
        let mut items = Vec::new();
        for chunk in keys.chunks(BATCH_GET_MAX) {
            let mut left = chunk.to_vec();
            for attempt in 0.. {
                before_attempt(attempt, "Keys", left.len()).await?;
                let body = json!({ "RequestItems": { &self.table: {
                    "Keys": left, "ConsistentRead": true } } });
                let mut out: Out = self.call("BatchGetItem", &body).await?;
                items.extend(out.found.into_values().flatten());
                left = out
                    .unprocessed
                    .remove(&self.table)
                    .map_or_else(Vec::new, |u| u.keys);
                if left.is_empty() {
                    break;
                }
            }
        }
        Ok(items)
    }

    /// The calls to AWS this invocation has left.
    pub fn budget(&self) -> &Budget {
        self.aws.budget()
    }

    pub async fn delete(&self, key: &Item) -> Result<()> {
        let body = json!({ "TableName": self.table, "Key": key });
        self.call::<Value>("DeleteItem", &body).await.map(drop)
    }

    /// Up to `limit` items of one partition of a global secondary index, newest (highest sort
    /// key) first.
    pub async fn query_index(
        &self,
        index: &str,
        key_attr: &str,
        value: &str,
        limit: usize,
    ) -> Result<Vec<Item>> {
        let query = json!({
            "IndexName": index,
            "KeyConditionExpression": "#k = :v",
            "ExpressionAttributeNames": { "#k": key_attr },
            "ExpressionAttributeValues": { ":v": Attr::s(value) },
            "ScanIndexForward": false,
        });
        self.query(query, limit).await
    }

    /// Up to `limit` items under one partition key, in sort-key order.
    pub async fn query_partition(&self, pk: &str, limit: usize) -> Result<Vec<Item>> {
        let query = json!({
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": { ":pk": Attr::s(pk) },
        });
        self.query(query, limit).await
    }

    /// Up to `limit` items of one partition whose sort keys lie between `from` and `to`
    /// (inclusive), in sort-key order or, `newest_first`, the reverse.
    pub async fn query_range(
        &self,
        pk: &str,
        (from, to): (&str, &str),
        limit: usize,
        newest_first: bool,
    ) -> Result<Vec<Item>> {
        let query = json!({
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :from AND :to",
            "ExpressionAttributeValues": {
                ":pk": Attr::s(pk), ":from": Attr::s(from), ":to": Attr::s(to),
            },
            "ScanIndexForward": !newest_first,
        });
        self.query(query, limit).await
    }

    /// Runs a Query, following pagination until `limit` items or the end.
    async fn query(&self, mut body: Value, limit: usize) -> Result<Vec<Item>> {
        #[derive(Deserialize)]
        struct Out {
            #[serde(rename = "Items", default)]
            items: Vec<Item>,
            #[serde(rename = "LastEvaluatedKey")]
            last: Option<Item>,
        }
        body["TableName"] = json!(self.table);
        let mut all = Vec::new();
        loop {
            if limit != usize::MAX {
                body["Limit"] = json!(limit - all.len());
            }
            let out: Out = self.call("Query", &body).await?;
            all.extend(out.items);
            match out.last {
                Some(key) if all.len() < limit => body["ExclusiveStartKey"] = json!(key),
                _ => break,
            }
        }
        all.truncate(limit);
        Ok(all)
    }
}

/// Before try `attempt` (from 0) of a batch call: a backoff for what DynamoDB left
/// unprocessed (throttling), or, after [`UNPROCESSED_ATTEMPTS`], an error naming how many
/// `Items` or `Keys` are still left.
async fn before_attempt(attempt: u32, what: &str, left: usize) -> Result<()> {
    if attempt == UNPROCESSED_ATTEMPTS {
        return Err(Error::Aws {
            service: SERVICE,
            status: 503,
            code: format!("Unprocessed{what}"),
            message: format!("{left} {} still unprocessed", what.to_lowercase()),
        });
    }
    if attempt > 0 {
        clock::sleep(50 << attempt).await;
    }
    Ok(())
}

/// Whether a `TransactionCanceledException` was caused by the first action's condition alone.
/// Its message lists one reason per action: `… reasons [ConditionalCheckFailed, None]`.
fn guard_failed(message: &str) -> bool {
    let reasons = message
        .rsplit_once('[')
        .map_or("", |(_, r)| r.trim_end_matches(']'));
    let mut reasons = reasons.split(',').map(str::trim);
    reasons.next() == Some("ConditionalCheckFailed") && reasons.all(|r| r == "None")
}

/// A key item from its two parts.
pub fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    Item::from([
        ("pk".to_string(), Attr::S(pk.into())),
        ("sk".to_string(), Attr::S(sk.into())),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_writes_are_spelled_as_dynamodb_wants() {
        let items = [
            ItemJson::from(&key("S#demo#s1", "E#1#a")),
            ItemJson::from(&key("S#demo#s1", "E#2#b")),
        ];
        let body: Value = serde_json::from_slice(&batch_write_body("t\"1", &items)).unwrap();
        assert_eq!(
            body,
            json!({"RequestItems": {"t\"1": [
                {"PutRequest": {"Item": {"pk": {"S": "S#demo#s1"}, "sk": {"S": "E#1#a"}}}},
                {"PutRequest": {"Item": {"pk": {"S": "S#demo#s1"}, "sk": {"S": "E#2#b"}}}}
            ]}})
        );
    }

    #[test]
    fn updates_bind_every_name_and_value() {
        let u = Update {
            key: key("A#demo#2025-11-22", "P#/"),
            add: vec![("pageviews".into(), 2), ("scroll 25".into(), 1)],
            set: vec![("path".into(), Attr::s("/"))],
        };
        let j = serde_json::to_value(u.to_json("t")).unwrap();
        assert_eq!(j["UpdateExpression"], "ADD #a0 :a0, #a1 :a1 SET #s0 = :s0");
        assert_eq!(j["ExpressionAttributeNames"]["#a1"], "scroll 25");
        assert_eq!(j["ExpressionAttributeValues"][":a0"], json!({"N": "2"}));
        assert_eq!(j["ExpressionAttributeValues"][":s0"], json!({"S": "/"}));
        assert_eq!(j["Key"]["pk"], json!({"S": "A#demo#2025-11-22"}));
    }

    #[test]
    fn a_split_update_keeps_each_expression_under_4_kb() {
        let u = Update {
            key: key("H#demo#/#2025-11-22", "W#1280"),
            add: (0..450).map(|i| (format!("c{i}"), 1)).collect(),
            set: vec![
                ("expires_at".into(), Attr::n(1)),
                ("path".into(), Attr::s("/")),
            ],
        };
        let parts = u.clone().split();
        assert_eq!(parts.len(), 3);
        for part in &parts {
            assert_eq!(part.key, u.key);
            assert_eq!(part.set, u.set);
            let j = serde_json::to_value(part.to_json("t")).unwrap();
            assert!(j["UpdateExpression"].as_str().unwrap().len() < 4096);
        }
        let adds: Vec<_> = parts.into_iter().flat_map(|p| p.add).collect();
        assert_eq!(adds, u.add);
    }

    #[test]
    fn a_failed_guard_is_told_from_other_cancellations() {
        let m = |r: &str| {
            format!("Transaction cancelled, please refer cancellation reasons for specific reasons [{r}]")
        };
        assert!(guard_failed(&m("ConditionalCheckFailed, None, None")));
        assert!(guard_failed(&m("ConditionalCheckFailed")));
        assert!(!guard_failed(&m("None, ConditionalCheckFailed")));
        assert!(!guard_failed(&m("ConditionalCheckFailed, ValidationError")));
        assert!(!guard_failed(&m("TransactionConflict, None")));
        assert!(!guard_failed("no reasons"));
    }

    #[test]
    fn attributes_use_dynamodb_json_shapes() {
        let v = json!({"s": "x", "n": 1.5, "i": 3, "b": true, "l": [1, "a", null], "m": {"k": "v"}, "z": null});
        let Some(Attr::M(m)) = Attr::from_value(v.clone()) else {
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
