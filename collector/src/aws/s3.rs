//! S3 over its REST protocol, path-style (`/<bucket>/<key>`), which both AWS and the emulator
//! accept for any bucket name.

use super::{Aws, Request};
use crate::error::{Error, Result};

const SERVICE: &str = "s3";

#[derive(Clone, Debug)]
pub struct S3 {
    aws: Aws,
    bucket: String,
}

impl S3 {
    pub fn new(aws: Aws, bucket: impl Into<String>) -> Self {
        S3 {
            aws,
            bucket: bucket.into(),
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Writes (or overwrites: same key, same object) one object.
    pub async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<()> {
        let path = self.path(key);
        let resp = self
            .aws
            .send(Request {
                service: SERVICE,
                method: http::Method::PUT,
                path: &path,
                headers: vec![("content-type", content_type.to_string())],
                body,
            })
            .await?;
        check(&resp)
    }

    /// Reads one object; `None` if there is none at `key`.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path(key);
        let resp = self
            .aws
            .send(Request {
                service: SERVICE,
                method: http::Method::GET,
                path: &path,
                headers: vec![],
                body: vec![],
            })
            .await?;
        if resp.status == 404 {
            return Ok(None);
        }
        check(&resp)?;
        Ok(Some(resp.body))
    }

    /// Whether the bucket exists and we may use it (for `/status`).
    pub async fn reachable(&self) -> Result<()> {
        let path = format!("/{}", encode(&self.bucket));
        let resp = self
            .aws
            .send(Request {
                service: SERVICE,
                method: http::Method::HEAD,
                path: &path,
                headers: vec![],
                body: vec![],
            })
            .await?;
        check(&resp)
    }

    fn path(&self, key: &str) -> String {
        let segments: Vec<String> = key.split('/').map(encode).collect();
        format!("/{}/{}", encode(&self.bucket), segments.join("/"))
    }
}

/// Percent-encodes one path segment the way SigV4 expects for S3: everything but RFC 3986's
/// unreserved characters.
pub fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// S3 errors are XML: `<Error><Code>…</Code><Message>…</Message></Error>`.
fn check(resp: &super::Response) -> Result<()> {
    if (200..300).contains(&resp.status) {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&resp.body);
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find('<')? + start;
        Some(text[start..end].to_string())
    };
    Err(Error::Aws {
        service: SERVICE,
        status: resp.status,
        code: tag("Code").unwrap_or_else(|| "Unknown".into()),
        message: tag("Message").unwrap_or_else(|| text.chars().take(200).collect()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_segments_for_sigv4() {
        assert_eq!(encode("site=demo"), "site%3Ddemo");
        assert_eq!(encode("a b+c"), "a%20b%2Bc");
        assert_eq!(encode("batch-1_x.ndjson"), "batch-1_x.ndjson");
        assert_eq!(encode("é"), "%C3%A9");
    }

    #[test]
    fn errors_are_read_from_xml() {
        let resp = super::super::Response {
            status: 404,
            body: b"<?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>".to_vec(),
        };
        match check(&resp).unwrap_err() {
            Error::Aws {
                code,
                message,
                status,
                ..
            } => {
                assert_eq!((code.as_str(), status), ("NoSuchBucket", 404));
                assert!(message.contains("does not exist"));
            }
            e => panic!("{e:?}"),
        }
    }
}
