//! AWS clients that run natively and inside the Worker alike: requests signed with SigV4
//! (`aws-sigv4`) and sent with reqwest (tokio natively, the runtime's `fetch` on wasm32).
//!
//! DynamoDB and S3 speak their wire protocols directly through [`Aws::send`]: a few small
//! request builders instead of the SDK crates keeps the Worker bundle and its start-up small
//! (measured in ARCHITECTURE.md). SNS goes through `aws-sdk-sns` on the same reqwest client.

pub mod dynamodb;
pub mod item_json;
pub mod s3;
pub mod sns;
pub mod sqs;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

use crate::clock;
use crate::config::AwsConfig;
use crate::error::{Error, Result};
use crate::subrequests::Budget;

/// Tries per request, and the first backoff (ms; then ×4 each time): 100, 400.
const ATTEMPTS: u32 = 3;
const BACKOFF_MS: u64 = 100;

/// Answers worth retrying: server errors, and throttling (429, or 400 with a throttling code).
fn is_transient(resp: &Response) -> bool {
    const THROTTLING: [&str; 3] = [
        "Throttling",
        "ProvisionedThroughputExceeded",
        "RequestLimitExceeded",
    ];
    match resp.status {
        429 | 500..=599 => true,
        400 => {
            let body = String::from_utf8_lossy(&resp.body);
            THROTTLING.iter().any(|t| body.contains(t))
        }
        _ => false,
    }
}

/// Signs and sends requests to AWS services (or the emulator standing in for them).
#[derive(Clone, Debug)]
pub struct Aws {
    http: reqwest::Client,
    config: AwsConfig,
    /// Shared by every clone: one `Aws` per invocation.
    budget: Budget,
}

/// One request, before signing.
#[derive(Debug)]
pub struct Request<'a> {
    /// Signing name and endpoint prefix: `dynamodb`, `s3`, `sns`.
    pub service: &'static str,
    pub method: http::Method,
    /// Already percent-encoded path, starting with `/`.
    pub path: &'a str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// The parts of a response callers look at.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Aws {
    pub fn new(config: AwsConfig) -> Self {
        Aws {
            http: reqwest::Client::new(),
            budget: Budget::new(config.subrequest_limit),
            config,
        }
    }

    /// The calls this invocation has left, shared with the SDK-based clients (SNS).
    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// The HTTP client, shared with the SDK-based clients (SNS).
    pub fn http(&self) -> reqwest::Client {
        self.http.clone()
    }

    pub fn config(&self) -> &AwsConfig {
        &self.config
    }

    fn endpoint(&self, service: &str) -> String {
        match &self.config.endpoint {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("https://{service}.{}.amazonaws.com", self.config.region),
        }
    }

    /// Signs `req` for the current time and sends it, retrying what AWS asks clients to retry
    /// (throttling, 5xx, no connection) with backoff, as the SDKs do. Any final HTTP answer is
    /// returned, errors included, for the service module to interpret; only a failure to get
    /// one is an error, or having no call left ([`Error::Subrequests`], not retried). Every
    /// request we send is safe to repeat (see `store`).
    pub async fn send(&self, req: Request<'_>) -> Result<Response> {
        let hash = payload_hash(&req.body).await?;
        let mut attempt = 1;
        loop {
            let result = self.send_once(&req, &hash).await;
            let transient = match &result {
                Ok(resp) => is_transient(resp),
                Err(Error::Subrequests { .. }) => false,
                Err(_) => true,
            };
            if !transient || attempt == ATTEMPTS {
                return result;
            }
            clock::sleep(BACKOFF_MS << (2 * (attempt - 1))).await;
            attempt += 1;
        }
    }

    async fn send_once(&self, req: &Request<'_>, hash: &str) -> Result<Response> {
        let url = format!("{}{}", self.endpoint(req.service), req.path);
        let unreachable = |message: String| Error::Aws {
            service: req.service,
            status: 0,
            code: "Unreachable".into(),
            message,
        };
        // Checked here because the signer insists on a URL with a host.
        reqwest::Url::parse(&url).map_err(|e| unreachable(format!("bad endpoint {url:?}: {e}")))?;
        let signed = self
            .sign(req, &url, hash)
            .map_err(|e| unreachable(format!("signing failed: {e}")))?;
        // Every attempt is a subrequest, retries included.
        self.budget.take()?;

        let mut builder = self.http.request(req.method.clone(), &url);
        for (name, value) in req.headers.iter().chain(&signed) {
            builder = builder.header(*name, value);
        }
        let resp = builder
            .body(req.body.clone())
            .send()
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let status = resp.status().as_u16();
        let body = resp
            .bytes()
            .await
            .map_err(|e| unreachable(e.to_string()))?
            .to_vec();
        Ok(Response { status, body })
    }

    /// Calls one action of an AWS JSON-protocol service (DynamoDB, SQS): a POST of JSON with
    /// the action in `X-Amz-Target`. A non-2xx answer becomes an [`Error::Aws`] with the
    /// service's error type.
    pub async fn json<T: serde::de::DeserializeOwned>(
        &self,
        service: &'static str,
        target: &str,
        body: &(impl serde::Serialize + ?Sized),
    ) -> Result<T> {
        let body = serde_json::to_vec(body).map_err(|e| Error::Runtime(e.to_string()))?;
        self.json_body(service, target, body).await
    }

    /// [`Aws::json`] with the body already written.
    pub async fn json_body<T: serde::de::DeserializeOwned>(
        &self,
        service: &'static str,
        target: &str,
        body: Vec<u8>,
    ) -> Result<T> {
        let resp = self
            .send(Request {
                service,
                method: http::Method::POST,
                path: "/",
                headers: vec![
                    ("content-type", "application/x-amz-json-1.0".into()),
                    ("x-amz-target", target.to_string()),
                ],
                body,
            })
            .await?;
        if !(200..300).contains(&resp.status) {
            return Err(json_error(service, &resp));
        }
        serde_json::from_slice(&resp.body).map_err(|e| Error::Aws {
            service,
            status: resp.status,
            code: "BadResponse".into(),
            message: e.to_string(),
        })
    }

    /// The SigV4 headers (`authorization`, `x-amz-date`, and for S3 the payload hash) for `req`.
    fn sign(
        &self,
        req: &Request<'_>,
        url: &str,
        hash: &str,
    ) -> std::result::Result<Vec<(&'static str, String)>, String> {
        let identity: Identity = Credentials::new(
            &self.config.access_key_id,
            &self.config.secret_access_key,
            None,
            None,
            "spoor-config",
        )
        .into();
        let mut settings = SigningSettings::default();
        if req.service == "s3" {
            // S3 signs paths as sent (no double encoding, no normalisation) and wants the
            // payload hash in a header of its own.
            settings.percent_encoding_mode = PercentEncodingMode::Single;
            settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        }
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.config.region)
            .name(req.service)
            .time(clock::system_time(clock::now_ms()))
            .settings(settings)
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let signable = SignableRequest::new(
            req.method.as_str(),
            url,
            req.headers.iter().map(|(n, v)| (*n, v.as_str())),
            SignableBody::Precomputed(hash.to_string()),
        )
        .map_err(|e| e.to_string())?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| e.to_string())?
            .into_parts();
        let (signed, _params) = instructions.into_parts();
        Ok(signed
            .into_iter()
            .map(|h| (h.name(), h.value().to_string()))
            .collect())
    }
}

/// The SHA-256 of a request body, in hex, as SigV4 signs it. In the Worker the runtime's
/// native digest computes it: SHA-256 in wasm was the consumer's largest CPU cost (bodies of
/// tens of KB per batch; see BENCHMARKS.md).
#[cfg(target_arch = "wasm32")]
async fn payload_hash(body: &[u8]) -> Result<String> {
    use worker::js_sys::{global, Function, Promise, Reflect, Uint8Array};
    use worker::wasm_bindgen::{JsCast, JsValue};
    let failed = |e: JsValue| Error::Runtime(format!("crypto.subtle.digest: {e:?}"));
    let crypto = Reflect::get(&global(), &"crypto".into()).map_err(failed)?;
    let subtle = Reflect::get(&crypto, &"subtle".into()).map_err(failed)?;
    let digest: Function = Reflect::get(&subtle, &"digest".into())
        .map_err(failed)?
        .dyn_into()
        .map_err(failed)?;
    let promise: Promise = digest
        .call2(&subtle, &"SHA-256".into(), &Uint8Array::from(body))
        .map_err(failed)?
        .dyn_into()
        .map_err(failed)?;
    let hash = worker::wasm_bindgen_futures::JsFuture::from(promise)
        .await
        .map_err(failed)?;
    Ok(crate::hex(&Uint8Array::new(&hash).to_vec()))
}

#[cfg(not(target_arch = "wasm32"))]
async fn payload_hash(body: &[u8]) -> Result<String> {
    use sha2::Digest;
    Ok(crate::hex(&sha2::Sha256::digest(body)))
}

/// The error an AWS JSON-protocol service returned (`__type` and `message`), as an [`Error`].
fn json_error(service: &'static str, resp: &Response) -> Error {
    #[derive(serde::Deserialize, Default)]
    struct Body {
        #[serde(rename = "__type", default)]
        kind: String,
        #[serde(alias = "Message", default)]
        message: String,
    }
    let body: Body = serde_json::from_slice(&resp.body).unwrap_or_default();
    // `__type` may carry a namespace: `com.amazonaws.dynamodb.v20120810#ResourceNotFoundException`.
    let code = body.kind.rsplit('#').next().unwrap_or_default();
    Error::Aws {
        service,
        status: resp.status,
        code: if code.is_empty() {
            "Unknown".into()
        } else {
            code.into()
        },
        message: if body.message.is_empty() {
            String::from_utf8_lossy(&resp.body)
                .chars()
                .take(200)
                .collect()
        } else {
            body.message
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, body: &str) -> Response {
        Response {
            status,
            body: body.as_bytes().to_vec(),
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    #[tokio::test]
    async fn payload_hashes_are_sha256_in_hex() {
        assert_eq!(
            payload_hash(b"").await.unwrap(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            payload_hash(b"abc").await.unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn retries_what_aws_asks_to_retry() {
        assert!(is_transient(&resp(500, "")));
        assert!(is_transient(&resp(503, "SlowDown")));
        assert!(is_transient(&resp(429, "")));
        assert!(is_transient(&resp(
            400,
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"}"#
        )));
        assert!(!is_transient(&resp(
            400,
            r#"{"__type":"ValidationException"}"#
        )));
        assert!(!is_transient(&resp(403, "SignatureDoesNotMatch")));
        assert!(!is_transient(&resp(200, "")));
    }
}
