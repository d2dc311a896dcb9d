//! The Worker's entry points: a thin layer of Workers-runtime calls over the plain modules.
//!
//! `fetch` answers HTTP: the API, and every other path from the static assets, logging each
//! request like any backend would; `queue` consumes accepted work (tracker batches, log
//! batches) and writes it, and the dead-letter queue into the AWS dead-letter store;
//! `scheduled` checks each site's traffic for surges and drops.

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use serde_json::json;
use worker::{
    event, Context, Env, Message, MessageBatch, MessageBuilder, MessageExt, Method,
    QueueContentType, QueueRetryOptions, QueueRetryOptionsBuilder, Request, Response, SendMessage,
};

use crate::clock;
use crate::config::{Config, LogRequests};
use crate::enrich::{self, RequestFacts};
use crate::error::{Error, Result};
use crate::ingest;
use crate::logs::{self, Http, Level, LogBatch, LogRecord};
use crate::reads;
use crate::store::{Stores, Work};
use crate::subrequests;

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

thread_local! {
    /// The configuration, read once per isolate: vars and secrets are fixed for an isolate's
    /// life (changing one deploys a new version), and reading them through the runtime and
    /// parsing them cost more per request than validating a batch (see BENCHMARKS.md).
    static CONFIG: OnceCell<Rc<Config>> = const { OnceCell::new() };
    /// A random name for this isolate, drawn the first time `/status` is read: two reads with
    /// the same name saw the same isolate (a restart starts its memory count from zero).
    static ISOLATE: OnceCell<String> = const { OnceCell::new() };
}

fn config(env: &Env) -> Result<Rc<Config>> {
    if let Some(config) = CONFIG.with(|c| c.get().cloned()) {
        return Ok(config);
    }
    // An error is not kept: it is reported again on every request until fixed.
    let config = Rc::new(Config::from_lookup(|name| var(env, name))?);
    CONFIG.with(|c| c.set(config.clone()).ok());
    Ok(config)
}

fn random_u32() -> u32 {
    (js_sys::Math::random() * f64::from(u32::MAX)) as u32
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let started = clock::now_ms();
    let (method, path) = (req.method(), req.path());
    let resp = match route(req, &env, started).await {
        Ok(resp) => resp,
        Err(e) => {
            if e.status() >= 500 {
                worker::console_error!("{e}");
            }
            json(e.status(), &e.to_json())?
        }
    };
    // An accepted batch carries its own access-log record (see `events`).
    let carried = method == Method::Post && path == "/v1/events" && resp.status_code() == 202;
    if !carried {
        log_request(&env, &ctx, &method, &path, resp.status_code(), started);
    }
    if path.starts_with("/v1/") || path == "/status" {
        cors(resp, method == Method::Options)
    } else {
        Ok(resp)
    }
}

/// Logs the request like a backend's access log (method, path, status, processing time), as
/// service `collector`, through the same path as any service's logs — after the response.
fn log_request(env: &Env, ctx: &Context, method: &Method, path: &str, status: u16, started: i64) {
    let Ok(config) = config(env) else {
        return;
    };
    let Some(batch) = access_log(&config, method, path, status, started) else {
        return;
    };
    let Ok(queue) = env.queue(QUEUE) else {
        return;
    };
    ctx.wait_until(async move {
        if let Ok(message) = serde_json::to_string(&Work::Logs(batch)) {
            let _ = queue.send(text(message)).await;
        }
    });
}

/// The access-log record of one request, as a log batch of its own, if `LOG_REQUESTS` wants it.
fn access_log(
    config: &Config,
    method: &Method,
    path: &str,
    status: u16,
    started: i64,
) -> Option<LogBatch> {
    let wanted = match config.log_requests {
        LogRequests::All => true,
        LogRequests::Errors => status >= 400,
        LogRequests::Off => false,
    };
    if !wanted {
        return None;
    }
    let level = match status {
        500.. => Level::Error,
        400.. => Level::Warn,
        _ => Level::Info,
    };
    let record = LogRecord {
        ts: started,
        level,
        service: "collector".into(),
        message: format!("{method} {path} {status}"),
        trace_id: None,
        session_id: None,
        http: Some(Http {
            method: method.to_string(),
            path: path.chars().take(2048).collect(),
            status,
            duration_ms: (clock::now_ms() - started).max(0) as f64,
        }),
        attrs: Default::default(),
    };
    Some(LogBatch {
        // One record: its time and a random part name it, once; a redelivery keeps the name.
        id: format!("req-{started}-{:08x}", random_u32()),
        received: started,
        service: "collector".into(),
        records: vec![record],
    })
}

async fn route(req: Request, env: &Env, started: i64) -> Result<Response> {
    let path = req.path();
    match (req.method(), path.as_str()) {
        (Method::Post, "/v1/events") => events(req, env, started).await,
        (Method::Post, "/v1/logs") => logs(req, env).await,
        (Method::Options, p) if p.starts_with("/v1/") => Ok(Response::empty()?.with_status(204)),
        (Method::Get, "/v1/count" | "/v1/stats" | "/v1/incidents" | "/v1/live" | "/v1/session") => {
            read(&req, env, &path).await
        }
        (Method::Get, "/status") => status(env).await,
        (_, p) if p.starts_with("/v1/") || p == "/status" => Err(if known(p) {
            Error::MethodNotAllowed
        } else {
            Error::NotFound
        }),
        // Everything else is a static file (the demo shop, the dashboard, the tracker).
        _ => Ok(env.assets("ASSETS")?.fetch_request(req).await?),
    }
}

fn known(path: &str) -> bool {
    matches!(
        path,
        "/v1/events"
            | "/v1/logs"
            | "/v1/count"
            | "/v1/stats"
            | "/v1/incidents"
            | "/v1/live"
            | "/v1/session"
            | "/status"
    )
}

/// `POST /v1/logs`: a service's structured logs, authenticated by its API key
/// (`Authorization: Bearer <key>`), validated whole, queued, answered 202.
async fn logs(mut req: Request, env: &Env) -> Result<Response> {
    let config = config(env)?;
    let headers = req.headers();
    let service = config
        .log_service(&bearer(&req)?)
        .ok_or(Error::Unauthorized)?
        .to_string();
    let content_type = headers.get("content-type")?.unwrap_or_default();
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if !matches!(
        essence.as_str(),
        "application/json" | "application/x-ndjson" | "text/plain"
    ) {
        return Err(Error::UnsupportedMediaType);
    }
    let batches = logs::parse(
        &read_body(&mut req, logs::MAX_BODY).await?,
        &service,
        clock::now_ms(),
    )?;
    let accepted: usize = batches.iter().map(|b| b.records.len()).sum();
    hand_over(env, &config, batches.into_iter().map(Work::Logs).collect()).await?;
    Ok(json(202, &json!({ "accepted": accepted }).to_string())?)
}

/// Queues accepted work as JSON text (plain to inspect in the dead-letter store, and free of
/// the quirks of converting Rust values to JS objects). Without a queue binding, writes it
/// before answering: a failure is answered as an error, and the sender resends (same ids).
async fn hand_over(env: &Env, config: &Config, work: Vec<Work>) -> Result<()> {
    match env.queue(QUEUE) {
        Ok(queue) => {
            for w in &work {
                let message =
                    serde_json::to_string(w).map_err(|e| Error::Runtime(e.to_string()))?;
                queue.send(text(message)).await?;
            }
        }
        Err(_) => {
            let stores = Stores::new(config);
            for w in &work {
                stores.run(w).await?;
            }
        }
    }
    Ok(())
}

/// A queue message of content type `text`: the JSON travels as it is. The default (`json`)
/// would have the runtime JSON-encode the string again, escaping every quote in it, and the
/// consumer decode it. Either way the consumer receives the same string.
fn text(message: String) -> SendMessage<String> {
    MessageBuilder::new(message)
        .content_type(QueueContentType::Text)
        .build()
}

/// `POST /v1/events`: limit, validate the whole batch, enrich, hand it to the queue, answer 202.
/// The batch carries the request's access-log record (status 202, timed up to the hand-over),
/// so an accepted batch costs one queue message, not two.
async fn events(mut req: Request, env: &Env, started: i64) -> Result<Response> {
    let config = config(env)?;
    let headers = req.headers();
    let ip_hash = headers
        .get("cf-connecting-ip")?
        .map(|ip| enrich::ip_hash(&ip, &config.ip_hash_key, started));
    // Per client first: a flood from one client must not use up its site's budget.
    if let Some(client) = &ip_hash {
        limit(env, CLIENT_LIMIT, client).await?;
    }
    ingest::check_content_type(headers.get("content-type")?.as_deref())?;
    let origin = headers.get("origin")?;
    let user_agent = headers.get("user-agent")?.unwrap_or_default();
    let country = req.cf().and_then(|cf| cf.country());

    let url = req.inner().url();
    let encoding = ingest::encoding_param(&url);
    let body = ingest::decode(read_body(&mut req, ingest::MAX_BODY).await?, encoding)?;
    let mut envelope = ingest::parse(&body, clock::now_ms())?;
    config.allows(&envelope.batch.site, origin.as_deref())?;
    limit(env, SITE_LIMIT, &envelope.batch.site).await?;
    envelope.client = enrich::client(RequestFacts {
        user_agent: &user_agent,
        ip_hash,
        country: country.as_deref(),
        webdriver: envelope.batch.ctx.wd,
    });
    let accepted = envelope.batch.events.len();
    envelope.access = access_log(&config, &Method::Post, "/v1/events", 202, started);
    hand_over(env, &config, vec![Work::Events(Box::new(envelope))]).await?;
    Ok(json(202, &json!({ "accepted": accepted }).to_string())?)
}

/// The request's body, refused (413) past `limit` bytes. A declared `Content-Length` is
/// checked before reading (the runtime holds the body to it); a body sent without one, in
/// chunks, is read chunk by chunk and refused once past the limit, rather than buffered whole
/// in the isolate's memory, whatever its size.
async fn read_body(req: &mut Request, limit: usize) -> Result<Vec<u8>> {
    use futures_util::StreamExt;
    let declared: Option<usize> = req
        .headers()
        .get("content-length")?
        .and_then(|l| l.parse().ok());
    match declared {
        Some(length) if length > limit => Err(Error::TooLarge { limit }),
        Some(_) => Ok(req.bytes().await?),
        None => {
            // No body at all is an empty one (refused later as what it is).
            let Ok(mut chunks) = req.stream() else {
                return Ok(Vec::new());
            };
            let mut body = Vec::new();
            while let Some(chunk) = chunks.next().await {
                body.extend_from_slice(&chunk?);
                if body.len() > limit {
                    return Err(Error::TooLarge { limit });
                }
            }
            Ok(body)
        }
    }
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

/// The key of an `Authorization: Bearer <key>` header (empty without one).
fn bearer(req: &Request) -> Result<String> {
    Ok(req
        .headers()
        .get("authorization")?
        .and_then(|a| a.strip_prefix("Bearer ").map(|k| k.trim().to_string()))
        .unwrap_or_default())
}

/// The read routes, for the dashboard. Each needs a read key for its site or service (see
/// `Config::may_read`), except the visitor counter, which pages may show to anyone.
async fn read(req: &Request, env: &Env, path: &str) -> Result<Response> {
    let config = config(env)?;
    let query: BTreeMap<String, String> = req
        .url()?
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let key = bearer(req)?;
    let stores = Stores::new(&config);
    // Incidents may be asked for by service (`?service=`) instead of site.
    if let (true, Some(service)) = (path == "/v1/incidents", query.get("service")) {
        config.may_read(&key, service)?;
        if !config.log_keys.contains_key(service) && service != "collector" {
            return Err(Error::Forbidden(format!("unknown service {service:?}")));
        }
        let mut by_service = query.clone();
        by_service.insert("site".into(), service.clone());
        let range = reads::range(&by_service, clock::now_ms())?;
        let body = reads::incidents(&stores.dynamodb, &range).await?;
        return Ok(json(200, &body.to_string())?);
    }
    let site = query.get("site").cloned().unwrap_or_default();
    if !config.sites.contains_key(&site) {
        return Err(if site.is_empty() {
            Error::invalid("site", "required")
        } else {
            Error::Forbidden(format!("unknown site {site:?}"))
        });
    }
    if path != "/v1/count" {
        config.may_read(&key, &site)?;
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
        "/v1/session" => {
            let sid = query.get("sid").map(String::as_str).unwrap_or_default();
            reads::session(&stores.dynamodb, &site, sid).await?
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
    // Anyone may ask: a failure is named, its details go to the logs.
    let state = |r: Result<()>| match r {
        Ok(()) => "ok".to_string(),
        Err(e) => {
            worker::console_error!("status: {e}");
            e.summary()
        }
    };
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
        Some(url) => match stores.sqs().depth(&url).await {
            Ok(n) => json!(n),
            Err(e) => json!(state(Err(e))),
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
        // Services whose logs are accepted (names only, never keys), and the collector itself.
        "log_services": config.log_keys.keys().map(String::as_str).chain(["collector"]).collect::<Vec<_>>(),
        "dead_letters": dead_letters,
        // This isolate's wasm linear memory: it only ever grows, so a rise across equal loads
        // is a leak in the Worker's own code (the load test watches it).
        "wasm_memory_bytes": core::arch::wasm32::memory_size(0) * 65536,
        "isolate": ISOLATE.with(|i| i.get_or_init(|| format!("{:08x}", random_u32())).clone()),
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
    let sqs = stores.sqs();
    let budget = stores.budget();
    let dead_letters = var(&env, "DEAD_LETTER_QUEUE_URL");
    let delay = var(&env, "RETRY_DELAY_SECONDS")
        .and_then(|v| v.parse().ok())
        .unwrap_or(RETRY_DELAY_SECONDS);
    let retry = QueueRetryOptionsBuilder::new()
        .with_delay_seconds(delay)
        .build();
    let mut deferred = Vec::new();
    for message in batch.messages()? {
        // Once out of calls, the rest wait too: each would fail at its first call.
        if !deferred.is_empty() {
            deferred.push(message);
            continue;
        }
        let before = budget.used();
        let done = if dead {
            match &dead_letters {
                Some(url) => sqs.send(url, message.body()).await,
                None => Err(Error::Config("DEAD_LETTER_QUEUE_URL is not set".into())),
            }
        } else {
            let (_, body) = subrequests::deferrals(message.body());
            match serde_json::from_str::<Work>(body) {
                Ok(work) => stores.run(&work).await.map(drop),
                Err(e) => Err(Error::Runtime(format!("unreadable queue message: {e}"))),
            }
        };
        match done {
            Ok(()) => message.ack(),
            // Out of calls after others used some: not a failure of this message. (One that
            // needs more than a whole invocation has fails like any other, and is retried
            // until the dead-letter queue keeps it.)
            Err(Error::Subrequests { .. }) if before > 0 => deferred.push(message),
            Err(e) => {
                worker::console_error!("queue {} message {}: {e}", batch.queue(), message.id());
                message.retry_with_options(&retry);
            }
        }
    }
    if !deferred.is_empty() {
        worker::console_warn!(
            "queue {}: {} messages wait for a later batch: this one made its {} calls to AWS \
             (SUBREQUEST_LIMIT)",
            batch.queue(),
            deferred.len(),
            budget.limit()
        );
        defer(&env, dead, deferred, &retry).await;
    }
    Ok(())
}

/// Hands messages this invocation had no calls left for to a later one. Events go back into
/// their queue as new messages, so waiting does not count as a failed attempt (a retry would,
/// and a busy queue could retry a message into the dead-letter queue without its ever
/// failing); the copy is sent before the original is acknowledged, so a crash between the two
/// can only mean writing it twice, which every write allows. The dead-letter queue's messages
/// are retried, of which it allows many. A message sent back [`subrequests::MAX_DEFERRALS`]
/// times is retried too: one no budget can hold must end in the dead-letter queue.
async fn defer(env: &Env, dead: bool, messages: Vec<Message<String>>, retry: &QueueRetryOptions) {
    let queue = match env.queue(QUEUE) {
        Ok(queue) if !dead => queue,
        _ => return messages.iter().for_each(|m| m.retry_with_options(retry)),
    };
    // Sent back often enough: retried like a failure from now on.
    let (messages, worn): (Vec<_>, Vec<_>) = messages
        .into_iter()
        .partition(|m| subrequests::deferrals(m.body()).0 < subrequests::MAX_DEFERRALS);
    worn.iter().for_each(|m| m.retry_with_options(retry));
    let copies: Vec<String> = messages
        .iter()
        .map(|m| {
            let (n, message) = subrequests::deferrals(m.body());
            subrequests::deferred_body(n + 1, message)
        })
        .collect();
    let sizes: Vec<usize> = copies.iter().map(String::len).collect();
    for group in subrequests::send_groups(&sizes) {
        let copies: Vec<_> = copies[group.clone()].iter().cloned().map(text).collect();
        let group = &messages[group];
        match queue.send_batch(copies).await {
            Ok(()) => group.iter().for_each(Message::ack),
            Err(e) => {
                worker::console_error!("sending {} deferred messages back: {e}", group.len());
                group.iter().for_each(|m| m.retry_with_options(retry));
            }
        }
    }
}

/// The cron trigger: each site's last traffic window against its baseline (one alert per
/// surge or drop, guarded like every alert).
#[event(scheduled)]
async fn scheduled(event: worker::ScheduledEvent, env: Env, _ctx: worker::ScheduleContext) {
    let Ok(config) = config(&env) else {
        return worker::console_error!("scheduled: configuration is incomplete");
    };
    let stores = Stores::new(&config);
    let now = event.schedule() as i64;
    for site in config.sites.keys() {
        if let Err(e) = stores.check_traffic(site, now).await {
            worker::console_error!("traffic check of {site}: {e}");
        }
    }
}

fn json(status: u16, body: &str) -> worker::Result<Response> {
    let mut resp = Response::ok(body)?.with_status(status);
    resp.headers_mut().set("content-type", "application/json")?;
    resp.headers_mut().set("cache-control", "no-store")?;
    Ok(resp)
}

/// The tracker posts from other origins without credentials, so any origin may read our
/// answers; who may *send* for a site is checked against its allow-list, not here. Methods,
/// headers and max-age mean something only in a preflight's answer: each header set is a call
/// into the runtime, on every batch.
fn cors(mut resp: Response, preflight: bool) -> worker::Result<Response> {
    let h = resp.headers_mut();
    h.set("access-control-allow-origin", "*")?;
    if preflight {
        h.set("access-control-allow-methods", "POST, GET, OPTIONS")?;
        h.set(
            "access-control-allow-headers",
            "content-type, authorization",
        )?;
        h.set("access-control-max-age", "86400")?;
    }
    Ok(resp)
}
