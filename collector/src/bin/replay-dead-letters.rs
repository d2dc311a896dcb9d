//! Replays the batches waiting in the AWS dead-letter store (SQS) into the stores, with the
//! same code the Worker runs, then deletes each replayed message. Safe to run repeatedly and
//! concurrently with the Worker: every write is idempotent (see `store`).
//!
//! Configuration is the Worker's, from the environment: AWS_REGION, AWS_ACCESS_KEY_ID,
//! AWS_SECRET_ACCESS_KEY, (AWS_ENDPOINT_URL), TABLE, BUCKET, (TOPIC_ARN) and
//! DEAD_LETTER_QUEUE_URL. Exits non-zero if any message could not be replayed; it stays in the
//! store for the next run.

#[cfg(not(target_arch = "wasm32"))]
#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    use collector::config::Config;
    use collector::store::{Stores, Work};

    // The site list and the IP-hash key play no part in replaying what was already accepted.
    let config = Config::from_lookup(|name| match std::env::var(name) {
        Ok(v) => Some(v),
        Err(_) if name == "SITES" => Some("{}".into()),
        Err(_) if name == "IP_HASH_KEY" => Some("not-used-when-replaying".into()),
        Err(_) => None,
    });
    let (mut config, queue) = match (config, std::env::var("DEAD_LETTER_QUEUE_URL")) {
        (Ok(c), Ok(q)) => (c, q),
        (Err(e), _) => {
            eprintln!("replay-dead-letters: {e}");
            return std::process::ExitCode::from(2);
        }
        (_, Err(_)) => {
            eprintln!("replay-dead-letters: DEAD_LETTER_QUEUE_URL is not set");
            return std::process::ExitCode::from(2);
        }
    };
    // Outside a Worker no cap on subrequests applies.
    config.aws.subrequest_limit = u32::MAX;
    let stores = Stores::new(&config);
    let sqs = stores.sqs();
    let (mut replayed, mut failed) = (0, 0);
    loop {
        // Messages that fail stay invisible for a minute, so one run sees each once.
        let messages = match sqs.receive(&queue, 60).await {
            Ok(m) if m.is_empty() => break,
            Ok(m) => m,
            Err(e) => {
                eprintln!("replay-dead-letters: reading {queue}: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        for m in messages {
            // A message the Worker sent back to its queue carries a count before the JSON.
            let (_, body) = collector::subrequests::deferrals(&m.body);
            let result = match serde_json::from_str::<Work>(body) {
                Ok(work) => stores.run(&work).await.map(|w| w.events),
                Err(e) => Err(collector::Error::Runtime(format!(
                    "unreadable message: {e}"
                ))),
            };
            match result {
                Ok(events) => match sqs.delete(&queue, &m.receipt_handle).await {
                    Ok(()) => {
                        replayed += 1;
                        println!("replayed a batch of {events} events or log records");
                    }
                    Err(e) => {
                        failed += 1;
                        eprintln!("replayed, but could not delete the message: {e}");
                    }
                },
                Err(e) => {
                    failed += 1;
                    eprintln!("could not replay a batch: {e}");
                }
            }
        }
    }
    println!("{replayed} batches replayed, {failed} failed");
    if failed == 0 {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}

#[cfg(target_arch = "wasm32")]
fn main() {}
