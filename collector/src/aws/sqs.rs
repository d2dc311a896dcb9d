//! SQS over its JSON protocol: the dead-letter store, and where alerts can be read back.

use serde::Deserialize;
use serde_json::{json, Value};

use super::Aws;
use crate::error::Result;

const SERVICE: &str = "sqs";

#[derive(Clone, Debug)]
pub struct Sqs {
    aws: Aws,
}

/// A received message: its body and the handle that deletes it.
#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    #[serde(rename = "Body")]
    pub body: String,
    #[serde(rename = "ReceiptHandle")]
    pub receipt_handle: String,
}

/// `body`, JSON text, with the two characters JSON allows unescaped and SQS refuses in a
/// message (U+FFFE, U+FFFF) written as escapes: the same JSON value, which SQS takes. (JSON
/// text from serde escapes the control characters SQS refuses too; its structure is ASCII, so
/// these can only stand inside strings.)
pub fn sendable(body: &str) -> std::borrow::Cow<'_, str> {
    if !body.contains(['\u{fffe}', '\u{ffff}']) {
        return body.into();
    }
    body.replace('\u{fffe}', "\\ufffe")
        .replace('\u{ffff}', "\\uffff")
        .into()
}

impl Sqs {
    pub fn new(aws: Aws) -> Self {
        Sqs { aws }
    }

    async fn call<T: serde::de::DeserializeOwned>(&self, action: &str, body: &Value) -> Result<T> {
        self.aws
            .json(SERVICE, &format!("AmazonSQS.{action}"), body)
            .await
    }

    pub async fn send(&self, queue_url: &str, body: &str) -> Result<()> {
        self.call::<Value>(
            "SendMessage",
            &json!({ "QueueUrl": queue_url, "MessageBody": sendable(body) }),
        )
        .await
        .map(drop)
    }

    /// Up to 10 messages, without waiting; they stay hidden for `visibility_s` seconds unless
    /// deleted.
    pub async fn receive(&self, queue_url: &str, visibility_s: u32) -> Result<Vec<Message>> {
        #[derive(Deserialize)]
        struct Out {
            #[serde(rename = "Messages", default)]
            messages: Vec<Message>,
        }
        let out: Out = self
            .call(
                "ReceiveMessage",
                &json!({
                    "QueueUrl": queue_url,
                    "MaxNumberOfMessages": 10,
                    "WaitTimeSeconds": 0,
                    "VisibilityTimeout": visibility_s,
                }),
            )
            .await?;
        Ok(out.messages)
    }

    pub async fn delete(&self, queue_url: &str, receipt_handle: &str) -> Result<()> {
        self.call::<Value>(
            "DeleteMessage",
            &json!({ "QueueUrl": queue_url, "ReceiptHandle": receipt_handle }),
        )
        .await
        .map(drop)
    }

    /// Messages waiting (approximate, as SQS counts), for `/status`.
    pub async fn depth(&self, queue_url: &str) -> Result<u64> {
        #[derive(Deserialize)]
        struct Out {
            #[serde(rename = "Attributes", default)]
            attributes: std::collections::BTreeMap<String, String>,
        }
        let out: Out = self
            .call(
                "GetQueueAttributes",
                &json!({ "QueueUrl": queue_url, "AttributeNames": ["ApproximateNumberOfMessages"] }),
            )
            .await?;
        Ok(out
            .attributes
            .get("ApproximateNumberOfMessages")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_sqs_refuses_are_sent_as_the_same_json() {
        let value = json!({"msg": "a\u{fffe}b\u{ffff}c", "n": 1});
        let body = format!("deferred 2 {value}");
        let sent = sendable(&body);
        assert!(!sent.contains(['\u{fffe}', '\u{ffff}']));
        let json = sent.strip_prefix("deferred 2 ").unwrap();
        assert_eq!(serde_json::from_str::<Value>(json).unwrap(), value);
        assert!(matches!(sendable("{}"), std::borrow::Cow::Borrowed(_)));
    }
}
