//! The collector's one error type. Each variant maps to its HTTP status and JSON body here, in
//! one place, so every route answers errors the same way.

use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed; `field` names where (a JSON path such as `events[2].x`).
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("content type must be text/plain or application/json")]
    UnsupportedMediaType,
    #[error("a valid API key is required (Authorization: Bearer <key>)")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("no such route")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("too many requests, retry later")]
    RateLimited,
    /// The deployment is misconfigured (a missing or bad variable or binding).
    #[error("configuration: {0}")]
    Config(String),
    /// An AWS service answered with an error, or could not be reached (`status` 0).
    #[error("{service}: {code} ({status}): {message}")]
    Aws {
        service: &'static str,
        status: u16,
        code: String,
        message: String,
    },
    /// This invocation has made all the calls to AWS it may (`SUBREQUEST_LIMIT`).
    #[error(
        "this needs more than the {limit} calls to AWS one request may make (SUBREQUEST_LIMIT)"
    )]
    Subrequests { limit: u32 },
    /// The Workers runtime failed us (a binding call, a queue send).
    #[error("runtime: {0}")]
    Runtime(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Serialize)]
struct Body<'a> {
    error: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl Error {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            Error::Invalid { .. } => 400,
            Error::Unauthorized => 401,
            Error::Forbidden(_) => 403,
            Error::NotFound => 404,
            Error::MethodNotAllowed => 405,
            Error::RateLimited => 429,
            Error::TooLarge { .. } => 413,
            Error::UnsupportedMediaType => 415,
            Error::Config(_) | Error::Runtime(_) => 500,
            // Throttled or unavailable upstream: the client should retry later.
            Error::Aws { status, .. } if *status == 0 || *status == 429 || *status >= 500 => 503,
            Error::Aws { .. } => 502,
            // A server-side cap, not the client's fault; reads that can be planned ask for a
            // smaller range (400) before they start.
            Error::Subrequests { .. } => 503,
        }
    }

    /// A stable machine-readable name for the error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Invalid { .. } => "invalid",
            Error::TooLarge { .. } => "too_large",
            Error::UnsupportedMediaType => "unsupported_media_type",
            Error::Unauthorized => "unauthorized",
            Error::Forbidden(_) => "forbidden",
            Error::NotFound => "not_found",
            Error::MethodNotAllowed => "method_not_allowed",
            Error::RateLimited => "rate_limited",
            Error::Config(_) => "config",
            Error::Aws { .. } => "upstream",
            Error::Runtime(_) => "runtime",
            Error::Subrequests { .. } => "subrequest_limit",
        }
    }

    /// The JSON body sent to the client. Server-side details (AWS messages, configuration) stay
    /// in the logs; the client learns only what it can act on.
    pub fn to_json(&self) -> String {
        let (message, field) = match self {
            Error::Invalid { field, reason } => (reason.clone(), Some(field.as_str())),
            Error::Config(_) | Error::Runtime(_) => ("internal error".into(), None),
            Error::Aws { .. } => ("storage unavailable, retry later".into(), None),
            other => (other.to_string(), None),
        };
        serde_json::to_string(&Body {
            error: self.code(),
            message,
            field,
        })
        .unwrap_or_else(|_| r#"{"error":"internal"}"#.into())
    }

    /// What `/status` tells anyone who asks of a failed check: for AWS, the service and its
    /// error code, not its message, which can name the account, the IAM user and the
    /// resources (the whole error goes to the Worker's logs).
    pub fn summary(&self) -> String {
        match self {
            Error::Aws {
                service,
                status,
                code,
                ..
            } => format!("{service}: {code} ({status})"),
            Error::Runtime(_) => "runtime error".into(),
            other => other.to_string(),
        }
    }

    /// Whether retrying the same work later may succeed (the queue consumer retries those).
    pub fn is_transient(&self) -> bool {
        matches!(self.status(), 500 | 503)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_names_the_field() {
        let e = Error::invalid("events[2].x", "must be a finite number");
        assert_eq!(e.status(), 400);
        let body: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(body["error"], "invalid");
        assert_eq!(body["field"], "events[2].x");
        assert_eq!(body["message"], "must be a finite number");
    }

    #[test]
    fn statuses_are_mapped_in_one_place() {
        assert_eq!(Error::TooLarge { limit: 1 }.status(), 413);
        assert_eq!(Error::UnsupportedMediaType.status(), 415);
        assert_eq!(Error::Forbidden("x".into()).status(), 403);
        assert_eq!(Error::Unauthorized.status(), 401);
        assert_eq!(Error::NotFound.status(), 404);
        assert_eq!(Error::MethodNotAllowed.status(), 405);
        assert_eq!(Error::RateLimited.status(), 429);
        assert_eq!(Error::Config("x".into()).status(), 500);
        let aws = |status| Error::Aws {
            service: "dynamodb",
            status,
            code: "X".into(),
            message: "m".into(),
        };
        assert_eq!(aws(0).status(), 503);
        assert_eq!(aws(500).status(), 503);
        assert_eq!(aws(429).status(), 503);
        assert_eq!(aws(400).status(), 502);
        assert!(aws(503).is_transient() && !aws(400).is_transient());
        let spent = Error::Subrequests { limit: 50 };
        assert_eq!((spent.status(), spent.code()), (503, "subrequest_limit"));
        assert!(
            spent.to_json().contains("SUBREQUEST_LIMIT"),
            "{}",
            spent.to_json()
        );
    }

    #[test]
    fn internal_details_do_not_leak_to_clients() {
        let e = Error::Aws {
            service: "dynamodb",
            status: 400,
            code: "ResourceNotFoundException".into(),
            message: "table spoor-secret-name missing".into(),
        };
        assert!(!e.to_json().contains("spoor-secret-name"));
        assert_eq!(e.summary(), "dynamodb: ResourceNotFoundException (400)");
        assert!(!Error::Config("AWS_SECRET_ACCESS_KEY".into())
            .to_json()
            .contains("AWS_"));
    }
}
