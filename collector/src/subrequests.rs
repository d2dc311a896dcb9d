//! The calls to AWS one invocation may make. Cloudflare caps the subrequests of each request,
//! queue batch or cron run (Workers Free: 50; Paid: 10,000); past the cap every `fetch`
//! throws. Counting our own calls turns that into a clear error we can act on: a read names
//! how much it may ask for, and the queue consumer sends back what it has no calls left for.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use crate::error::{Error, Result};

/// The cap on the Workers Free plan, the default: correct on every plan.
pub const DEFAULT_LIMIT: u32 = 50;

/// Calls made so far against a limit; clones share the count (one per invocation).
#[derive(Clone, Debug)]
pub struct Budget {
    limit: u32,
    used: Arc<AtomicU32>,
}

impl Budget {
    pub fn new(limit: u32) -> Self {
        Budget {
            limit,
            used: Arc::new(AtomicU32::new(0)),
        }
    }

    /// Takes one call, or refuses once all are used.
    pub fn take(&self) -> Result<()> {
        let limit = self.limit;
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < limit).then_some(n + 1)
            })
            .map(drop)
            .map_err(|_| Error::Subrequests { limit })
    }

    pub fn used(&self) -> u32 {
        self.used.load(Ordering::Relaxed)
    }

    pub fn left(&self) -> u32 {
        self.limit.saturating_sub(self.used())
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }
}

/// Messages a queue `sendBatch` takes at most, their total size (Cloudflare's KB are 1,000
/// bytes), and what each message adds to it beyond its body.
pub const SEND_BATCH_MESSAGES: usize = 100;
pub const SEND_BATCH_BYTES: usize = 256_000;
pub const MESSAGE_OVERHEAD: usize = 100;

/// Splits messages of these sizes, in order, into groups one `sendBatch` accepts.
pub fn send_groups(sizes: &[usize]) -> Vec<std::ops::Range<usize>> {
    let mut groups = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, &size) in sizes.iter().enumerate() {
        let size = size + MESSAGE_OVERHEAD;
        if i > start && (i - start == SEND_BATCH_MESSAGES || bytes + size > SEND_BATCH_BYTES) {
            groups.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < sizes.len() {
        groups.push(start..sizes.len());
    }
    groups
}

/// How often a message may be sent back before it is retried instead (a retry counts toward
/// the queue's `max_retries`, so a message no budget can hold ends in the dead-letter queue
/// rather than going round for ever).
pub const MAX_DEFERRALS: u32 = 10;
const DEFERRED: &str = "deferred ";

/// A message's body as sent back for the `n`th time: a first line counting the times, then the
/// message as it was (JSON never starts with `d`).
pub fn deferred_body(n: u32, message: &str) -> String {
    format!("{DEFERRED}{n}\n{message}")
}

/// How often a message body was sent back, and the message itself.
pub fn deferrals(body: &str) -> (u32, &str) {
    body.strip_prefix(DEFERRED)
        .and_then(|rest| rest.split_once('\n'))
        .and_then(|(n, message)| Some((n.parse().ok()?, message)))
        .unwrap_or((0, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_refuses_past_its_limit_and_clones_share_it() {
        let budget = Budget::new(2);
        let other = budget.clone();
        assert!(budget.take().is_ok());
        assert!(other.take().is_ok());
        assert_eq!((budget.used(), budget.left()), (2, 0));
        let refused = budget.take().unwrap_err();
        assert!(matches!(refused, Error::Subrequests { limit: 2 }));
        assert_eq!(budget.used(), 2, "a refusal uses nothing");
    }

    #[test]
    fn groups_respect_the_count_and_the_bytes() {
        assert!(send_groups(&[]).is_empty());
        assert_eq!(send_groups(&[10; 3]), vec![0..3]);
        assert_eq!(send_groups(&[1; 250]), vec![0..100, 100..200, 200..250]);
        // Two log parts of 98 KB and one of 60 KB: 256,000 bytes with the overhead is past.
        let sizes = [98_000, 98_000, 60_000 - 3 * MESSAGE_OVERHEAD];
        assert_eq!(send_groups(&sizes), vec![0..3]);
        assert_eq!(send_groups(&[98_000, 98_000, 60_000]), vec![0..2, 2..3]);
        // A message at the size limit is a group of its own, never merged past it.
        assert_eq!(
            send_groups(&[1, SEND_BATCH_BYTES, 1]),
            vec![0..1, 1..2, 2..3]
        );
    }

    #[test]
    fn a_sent_back_body_counts_its_trips_and_keeps_the_message() {
        let message = r#"{"events":{"v":2}}"#;
        assert_eq!(deferrals(message), (0, message));
        let once = deferred_body(1, message);
        assert_eq!(deferrals(&once), (1, message));
        let (n, inner) = deferrals(&once);
        assert_eq!(deferrals(&deferred_body(n + 1, inner)), (2, message));
        // Not a count: the body is the message, as it was.
        assert_eq!(deferrals("deferred x\n{}"), (0, "deferred x\n{}"));
    }
}
