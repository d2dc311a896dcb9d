//! The Worker's entry points: a thin layer of Workers-runtime calls over the plain modules.
//!
//! `fetch` answers HTTP (static files are served by the runtime's assets layer before we are
//! called, see wrangler.toml); `queue` consumes accepted batches and writes them, and consumes
//! the dead-letter queue into the AWS dead-letter store.

use std::collections::BTreeMap;

use serde_json::json;
use worker::{
    event, Context, Env, MessageBatch, MessageExt, Method, QueueRetryOptionsBuilder, Request,
    Response,
};

use crate::aws::sqs::Sqs;
use crate::aws::Aws;
use crate::clock;
use crate::config::Config;
use crate::enrich::{self, RequestFacts};
use crate::error::{Error, Result};
use crate::ingest::{self, Envelope};
use crate::reads;
use crate::store::Stores;

/// Queue binding that buffers accepted batches between `fetch` and `queue`.
const QUEUE: &str = "EVENTS";
/// Rate limiters (wrangler.toml `[[ratelimits]]`): per client IP, and per site.
const CLIENT_LIMIT: &str = "RL_CLIENT";
const SITE_LIMIT: &str = "RL_SITE";
/// Seconds before a failed batch is retried, unless `RETRY_DELAY_SECONDS` says otherwise. Five
/// tries at this pace ride out a few minutes of AWS trouble before the dead-letter queue.
const RETRY_DELAY_SECONDS: u32 = 30;

impl From<worker::Error> for Error {
    fn from(e: worker::Error) -> Self {
        Error::Runtime(e.to_string())
    }
}

fn var(env: &Env, name: &str) -> Option<String> {
    env.var(name).ok().map(|v| v.to_string())
}

fn config(env: &Env) -> Result<Config> {
    Config::from_lookup(|name| var(env, name))
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
    let path = req.path();
    match (req.method(), path.as_str()) {
        (Method::Post, "/v1/events") => events(req, env, ctx).await,
        (Method::Options, p) if p.starts_with("/v1/") => Ok(Response::empty()?.with_status(204)),
        (Method::Get, "/v1/count" | "/v1/stats" | "/v1/incidents" | "/v1/live") => {
            read(&req, env, &path).await
        }
        (Method::Get, "/status") => status(env).await,
        (
            _,
            "/v1/events" | "/v1/count" | "/v1/stats" | "/v1/incidents" | "/v1/live" | "/status",
        ) => Err(Error::MethodNotAllowed),
        _ => Err(Error::NotFound),
    }
}

/// `POST /v1/events`: limit, validate the whole batch, enrich, hand it to the queue, answer 202.
async fn events(mut req: Request, env: &Env, ctx: &Context) -> Result<Response> {
    let config = config(env)?;
    let headers = req.headers();
    let ip = headers.get("cf-connecting-ip")?;
    let ip_hash = ip
        .as_deref()
        .map(|ip| enrich::ip_hash(ip, &config.ip_hash_key, clock::now_ms()));
    // Per client first: a flood from one client must not use up its site's budget.
    if let Some(client) = &ip_hash {
        limit(env, CLIENT_LIMIT, client).await?;
    }
    ingest::check_content_type(headers.get("content-type")?.as_deref())?;
    let declared: Option<usize> = headers.get("content-length")?.and_then(|l| l.parse().ok());
    if declared.is_some_and(|l| l > ingest::MAX_BODY) {
        return Err(Error::TooLarge {
            limit: ingest::MAX_BODY,
        });
    }
    let origin = headers.get("origin")?;
    let user_agent = headers.get("user-agent")?.unwrap_or_default();
    let country = req.cf().and_then(|cf| cf.country());

    let mut envelope = ingest::parse(&req.bytes().await?, clock::now_ms())?;
    config.allows(&envelope.batch.site, origin.as_deref())?;
    limit(env, SITE_LIMIT, &envelope.batch.site).await?;
    envelope.client = enrich::client(
        &RequestFacts {
            user_agent: &user_agent,
            ip: ip.as_deref(),
            country: country.as_deref(),
            webdriver: envelope.batch.ctx.wd,
        },
        &config.ip_hash_key,
        envelope.received,
    );
    let accepted = envelope.batch.events.len();

    match env.queue(QUEUE) {
        // As JSON text: plain to inspect in the dead-letter store, and free of the quirks of
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
    Ok(json(202, &json!({ "accepted": accepted }).to_string())?)
}

/// Applies one rate limiter; a missing binding means no limit (logged by `/status`).
async fn limit(env: &Env, binding: &str, key: &str) -> Result<()> {
    let Ok(limiter) = env.rate_limiter(binding) else {
        return Ok(());
    };
    if limiter.limit(key.to_string()).await?.success {
        Ok(())
    } else {
        Err(Error::RateLimited)
    }
}

/// The read routes, for the dashboard.
async fn read(req: &Request, env: &Env, path: &str) -> Result<Response> {
    let config = config(env)?;
    let query: BTreeMap<String, String> = req
        .url()?
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let stores = Stores::new(&config);
    let site = query.get("site").cloned().unwrap_or_default();
    if !config.sites.contains_key(&site) {
        return Err(if site.is_empty() {
            Error::invalid("site", "required")
        } else {
            Error::Forbidden(format!("unknown site {site:?}"))
        });
    }
    let body = match path {
        "/v1/count" => reads::count(&stores.dynamodb, &site).await?,
        "/v1/stats" => {
            let range = reads::range(&query, clock::now_ms())?;
            reads::stats(&stores.dynamodb, &range).await?
        }
        "/v1/live" => {
            let limit = match query.get("limit") {
                None => 50,
                Some(l) => l
                    .parse()
                    .map_err(|_| Error::invalid("limit", "must be a whole number"))?,
            };
            reads::live(&stores.dynamodb, &site, limit, clock::now_ms()).await?
        }
        _ => {
            let range = reads::range(&query, clock::now_ms())?;
            reads::incidents(&stores.dynamodb, &range).await?
        }
    };
    Ok(json(200, &body.to_string())?)
}

/// `GET /status`: what this deployment is, which bindings it has, whether it reaches its
/// stores, and how many batches wait in the dead-letter store.
async fn status(env: &Env) -> Result<Response> {
    let bindings = json!({
        "queue": env.queue(QUEUE).is_ok(),
        "rate_limit_client": env.rate_limiter(CLIENT_LIMIT).is_ok(),
        "rate_limit_site": env.rate_limiter(SITE_LIMIT).is_ok(),
        "assets": env.assets("ASSETS").is_ok(),
    });
    let config = match config(env) {
        Ok(c) => c,
        Err(e) => {
            let body = json!({ "ok": false, "version": env!("CARGO_PKG_VERSION"),
                               "config": e.to_string(), "bindings": bindings });
            return Ok(json(503, &body.to_string())?);
        }
    };
    let stores = Stores::new(&config);
    let state = |r: Result<()>| r.map_or_else(|e| e.to_string(), |()| "ok".to_string());
    let table = json!({ "TableName": stores.dynamodb.table() });
    let dynamodb = state(
        stores
            .dynamodb
            .call::<serde_json::Value>("DescribeTable", &table)
            .await
            .map(drop),
    );
    let s3 = state(stores.s3.reachable().await);
    let dead_letters = match var(env, "DEAD_LETTER_QUEUE_URL") {
        Some(url) => match Sqs::new(Aws::new(config.aws.clone())).depth(&url).await {
            Ok(n) => json!(n),
            Err(e) => json!(e.to_string()),
        },
        None => json!("not configured"),
    };
    let ok = dynamodb == "ok" && s3 == "ok";
    let body = json!({
        "ok": ok,
        "version": env!("CARGO_PKG_VERSION"),
        "config": "ok",
        "bindings": bindings,
        "dynamodb": dynamodb,
        "s3": s3,
        "alerts": config.topic_arn.is_some(),
        "dead_letters": dead_letters,
    });
    Ok(json(if ok { 200 } else { 503 }, &body.to_string())?)
}

/// The queue consumer. From the events queue: write each envelope; a failure retries that
/// message (with the queue's backoff) until it succeeds or moves to the dead-letter queue.
/// From the dead-letter queue: keep each message in the AWS dead-letter store (SQS), so no
/// acknowledged batch is ever dropped; `scripts/replay-dead-letters.mjs` sends them back.
#[event(queue)]
async fn queue(batch: MessageBatch<String>, env: Env, _ctx: Context) -> worker::Result<()> {
    let config = config(&env).map_err(|e| worker::Error::RustError(e.to_string()))?;
    let dead = batch.queue().ends_with("-dlq");
    let stores = Stores::new(&config);
    let dead_letters = var(&env, "DEAD_LETTER_QUEUE_URL");
    let delay = var(&env, "RETRY_DELAY_SECONDS")
        .and_then(|v| v.parse().ok())
        .unwrap_or(RETRY_DELAY_SECONDS);
    let retry = QueueRetryOptionsBuilder::new()
        .with_delay_seconds(delay)
        .build();
    for message in batch.messages()? {
        let done = if dead {
            match &dead_letters {
                Some(url) => {
                    Sqs::new(Aws::new(config.aws.clone()))
                        .send(url, message.body())
                        .await
                }
                None => Err(Error::Config("DEAD_LETTER_QUEUE_URL is not set".into())),
            }
        } else {
            match serde_json::from_str::<Envelope>(message.body()) {
                Ok(envelope) => stores.write(&envelope).await.map(drop),
                Err(e) => Err(Error::Runtime(format!("unreadable queue message: {e}"))),
            }
        };
        match done {
            Ok(()) => message.ack(),
            Err(e) => {
                worker::console_error!("queue {} message {}: {e}", batch.queue(), message.id());
                message.retry_with_options(&retry);
            }
        }
    }
    Ok(())
}

fn json(status: u16, body: &str) -> worker::Result<Response> {
    let mut resp = Response::ok(body)?.with_status(status);
    resp.headers_mut().set("content-type", "application/json")?;
    resp.headers_mut().set("cache-control", "no-store")?;
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
