//! SNS through `aws-sdk-sns`, on the same reqwest transport as the rest of the AWS layer. The
//! SDK brings no HTTP client, clock or sleep for wasm32, so this module gives it ours.

use std::future::Future;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sdk_sns::config::{BehaviorVersion, Region};
use aws_sdk_sns::types::MessageAttributeValue;
use aws_smithy_async::rt::sleep::{AsyncSleep, SharedAsyncSleep, Sleep};
use aws_smithy_async::time::{SharedTimeSource, TimeSource};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use sha2::{Digest, Sha256};

use crate::clock;
use crate::config::AwsConfig;
use crate::error::{Error, Result};
use crate::subrequests::Budget;

#[derive(Clone, Debug)]
pub struct Sns {
    client: aws_sdk_sns::Client,
}

impl Sns {
    /// `budget`: the invocation's calls, which each attempt the SDK makes uses one of.
    pub fn new(config: &AwsConfig, http: reqwest::Client, budget: Budget) -> Self {
        let mut builder = aws_sdk_sns::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(config.region.clone()))
            .credentials_provider(Credentials::new(
                &config.access_key_id,
                &config.secret_access_key,
                None,
                None,
                "spoor-config",
            ))
            .http_client(SharedHttpClient::new(Reqwest(http, budget)))
            .time_source(SharedTimeSource::new(Clock))
            .sleep_impl(SharedAsyncSleep::new(Sleeper))
            .interceptor(PayloadHash);
        if let Some(endpoint) = &config.endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        Sns {
            client: aws_sdk_sns::Client::from_conf(builder.build()),
        }
    }

    /// Publishes `message` with string message attributes (which subscribers filter on);
    /// returns the message id.
    pub async fn publish(
        &self,
        topic_arn: &str,
        subject: &str,
        message: &str,
        attributes: &[(&str, &str)],
    ) -> Result<String> {
        let mut req = self
            .client
            .publish()
            .topic_arn(topic_arn)
            .subject(subject)
            .message(message);
        for (name, value) in attributes {
            let value = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(*value)
                .build()
                .map_err(|e| Error::Runtime(e.to_string()))?;
            req = req.message_attributes(*name, value);
        }
        let out = req.send().await.map_err(|e| {
            let status = e.raw_response().map_or(0, |r| r.status().as_u16());
            // No call was left: the connector refused to send (our error, in the chain).
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
            while let Some(s) = source {
                if let Some(Error::Subrequests { limit }) = s.downcast_ref::<Error>() {
                    return Error::Subrequests { limit: *limit };
                }
                source = s.source();
            }
            let code = aws_sdk_sns::error::ProvideErrorMetadata::code(&e)
                .unwrap_or("Unknown")
                .to_string();
            Error::Aws {
                service: "sns",
                status,
                code,
                message: aws_sdk_sns::error::DisplayErrorContext(&e).to_string(),
            }
        })?;
        Ok(out.message_id().unwrap_or_default().to_string())
    }
}

/// The runtime's futures are not `Send` on wasm32, where there is only one thread anyway.
#[cfg(target_arch = "wasm32")]
fn sendable<F: Future>(f: F) -> worker::send::SendFuture<F> {
    worker::send::SendFuture::new(f)
}

#[cfg(not(target_arch = "wasm32"))]
fn sendable<F: Future>(f: F) -> F {
    f
}

#[derive(Debug, Clone)]
struct Reqwest(reqwest::Client, Budget);

impl HttpClient for Reqwest {
    fn http_connector(
        &self,
        _: &HttpConnectorSettings,
        _: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

impl HttpConnector for Reqwest {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        if let Err(e) = self.1.take() {
            return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into())));
        }
        HttpConnectorFuture::new(sendable(forward(self.0.clone(), request)))
    }
}

async fn forward(
    client: reqwest::Client,
    req: HttpRequest,
) -> std::result::Result<HttpResponse, ConnectorError> {
    let other = |e: Box<dyn std::error::Error + Send + Sync>| ConnectorError::other(e, None);
    let method = http::Method::from_bytes(req.method().as_bytes()).map_err(|e| other(e.into()))?;
    let mut builder = client.request(method, req.uri());
    for (name, value) in req.headers() {
        builder = builder.header(name, value);
    }
    // SNS requests are small form bodies, always in memory.
    let body = req.body().bytes().map(<[u8]>::to_vec).unwrap_or_default();
    let resp = builder
        .body(body)
        .send()
        .await
        .map_err(|e| ConnectorError::io(e.into()))?;
    let mut out = http::Response::builder().status(resp.status().as_u16());
    for (name, value) in resp.headers() {
        out = out.header(name.as_str(), value.as_bytes());
    }
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| ConnectorError::io(e.into()))?;
    let out = out
        .body(SdkBody::from(bytes.to_vec()))
        .map_err(|e| other(e.into()))?;
    HttpResponse::try_from(out).map_err(|e| other(e.into()))
}

/// Signs the body's SHA-256 in `x-amz-content-sha256`, as the JavaScript SDK does for every
/// service. Without it the emulator checks the signature against its own re-encoding of the
/// form body (spaces as `+`), not the bytes we sent, and refuses any message with a space.
#[derive(Debug)]
struct PayloadHash;

impl Intercept for PayloadHash {
    fn name(&self) -> &'static str {
        "PayloadHash"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        let request = context.request_mut();
        if let Some(body) = request.body().bytes() {
            let hash = crate::hex(&Sha256::digest(body));
            request.headers_mut().insert("x-amz-content-sha256", hash);
        }
        Ok(())
    }
}

#[derive(Debug)]
struct Clock;

impl TimeSource for Clock {
    fn now(&self) -> SystemTime {
        clock::system_time(clock::now_ms())
    }
}

#[derive(Debug)]
struct Sleeper;

impl AsyncSleep for Sleeper {
    fn sleep(&self, duration: Duration) -> Sleep {
        Sleep::new(sendable(clock::sleep(duration.as_millis() as u64)))
    }
}
