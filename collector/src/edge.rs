//! The Worker's entry points: a thin layer of Workers-runtime calls over the plain modules.
//!
//! `fetch` answers HTTP (static files are served by the runtime's assets layer before we are
//! called, see wrangler.toml); `queue` is the consumer that writes what `fetch` accepted.

use worker::{event, Context, Env, MessageBatch, MessageExt, Method, Request, Response};

use crate::clock;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::ingest::{self, Envelope};
use crate::store::Stores;

/// Queue binding that buffers accepted batches between `fetch` and `queue`.
const QUEUE: &str = "EVENTS";

impl From<worker::Error> for Error {
    fn from(e: worker::Error) -> Self {
        Error::Runtime(e.to_string())
    }
}

fn config(env: &Env) -> Result<Config> {
    Config::from_lookup(|name| env.var(name).ok().map(|v| v.to_string()))
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let resp = match route(req, &env, &ctx).await {
        Ok(resp) => resp,
        Err(e) => {
            if e.status() >= 500 {
                worker::console_error!("{e}");
            }
            json(e.status(), &e.to_json())?
        }
    };
    cors(resp)
}

async fn route(req: Request, env: &Env, ctx: &Context) -> Result<Response> {
    match (req.method(), req.path().as_str()) {
        (Method::Post, "/v1/events") => events(req, env, ctx).await,
        (Method::Options, p) if p.starts_with("/v1/") => Ok(Response::empty()?.with_status(204)),
        (Method::Get, "/status") => status(env).await,
        (_, "/v1/events" | "/status") => Err(Error::MethodNotAllowed),
        _ => Err(Error::NotFound),
    }
}

/// `POST /v1/events`: validate the whole batch, hand it to the queue, answer 202.
async fn events(mut req: Request, env: &Env, ctx: &Context) -> Result<Response> {
    let config = config(env)?;
    let headers = req.headers();
    ingest::check_content_type(headers.get("content-type")?.as_deref())?;
    let declared: Option<usize> = headers.get("content-length")?.and_then(|l| l.parse().ok());
    if declared.is_some_and(|l| l > ingest::MAX_BODY) {
        return Err(Error::TooLarge {
            limit: ingest::MAX_BODY,
        });
    }
    let origin = headers.get("origin")?;
    let envelope = ingest::parse(&req.bytes().await?, clock::now_ms())?;
    config.allows(&envelope.batch.site, origin.as_deref())?;
    let accepted = envelope.batch.events.len();

    match env.queue(QUEUE) {
        // As JSON text: plain to inspect in the dead-letter queue, and free of the quirks of
        // converting Rust values to JS objects (maps, flattened fields).
        Ok(queue) => {
            let message =
                serde_json::to_string(&envelope).map_err(|e| Error::Runtime(e.to_string()))?;
            queue.send(message).await?
        }
        // Without a queue binding, write after answering; a failure is logged, and the
        // browser's resend (same ids) is what recovers it.
        Err(_) => {
            let stores = Stores::new(&config);
            ctx.wait_until(async move {
                if let Err(e) = stores.write(&envelope).await {
                    worker::console_error!("writing batch {}: {e}", envelope.batch.batch);
                }
            });
        }
    }
    Ok(json(202, &format!(r#"{{"accepted":{accepted}}}"#))?)
}

/// `GET /status`: what this deployment is and whether it can reach its stores.
async fn status(env: &Env) -> Result<Response> {
    let queue = env.queue(QUEUE).is_ok();
    let (config_state, dynamodb) = match config(env) {
        Err(e) => (e.to_string(), "not configured".to_string()),
        Ok(config) => {
            let stores = Stores::new(&config);
            let table = serde_json::json!({ "TableName": stores.dynamodb.table() });
            let reach = stores
                .dynamodb
                .call::<serde_json::Value>("DescribeTable", &table)
                .await;
            (
                "ok".into(),
                reach.map_or_else(|e| e.to_string(), |_| "ok".into()),
            )
        }
    };
    let ok = config_state == "ok" && dynamodb == "ok";
    let body = serde_json::json!({
        "ok": ok,
        "version": env!("CARGO_PKG_VERSION"),
        "config": config_state,
        "queue": queue,
        "dynamodb": dynamodb,
    });
    Ok(json(if ok { 200 } else { 503 }, &body.to_string())?)
}

/// The queue consumer: writes each envelope; a failure retries that message (with the queue's
/// backoff) until it succeeds or goes to the dead-letter queue.
#[event(queue)]
async fn queue(batch: MessageBatch<String>, env: Env, _ctx: Context) -> worker::Result<()> {
    let config = config(&env).map_err(|e| worker::Error::RustError(e.to_string()))?;
    let stores = Stores::new(&config);
    for message in batch.messages()? {
        let written = match serde_json::from_str::<Envelope>(message.body()) {
            Ok(envelope) => stores.write(&envelope).await,
            Err(e) => Err(Error::Runtime(format!("unreadable queue message: {e}"))),
        };
        match written {
            Ok(()) => message.ack(),
            Err(e) => {
                worker::console_error!("queue message {}: {e}", message.id());
                message.retry();
            }
        }
    }
    Ok(())
}

fn json(status: u16, body: &str) -> worker::Result<Response> {
    let mut resp = Response::ok(body)?.with_status(status);
    resp.headers_mut().set("content-type", "application/json")?;
    Ok(resp)
}

/// The tracker posts from other origins without credentials, so any origin may read our
/// answers; who may *send* for a site is checked against its allow-list, not here.
fn cors(mut resp: Response) -> worker::Result<Response> {
    let h = resp.headers_mut();
    h.set("access-control-allow-origin", "*")?;
    h.set("access-control-allow-methods", "POST, GET, OPTIONS")?;
    h.set("access-control-allow-headers", "content-type")?;
    h.set("access-control-max-age", "86400")?;
    Ok(resp)
}
