//! The AWS emulator for native tests: scripts/lib/emulator.mjs (moto with signature checks and
//! the CloudFormation template applied), started once per test binary. It stops when this
//! process exits: its stdin closes with us.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use tokio::sync::{Mutex, MutexGuard};

use collector::config::{AwsConfig, Config};

pub struct Emulator {
    pub endpoint: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub table: String,
    pub bucket: String,
    pub topic_arn: String,
    /// An SQS queue subscribed to the alerts topic, to read alerts back.
    pub alerts_queue_url: String,
    _process: Child,
}

/// A turn at the emulator. moto runs a transaction on a copy of the whole table and puts the
/// copy back, so two at once lose each other's writes (a batch marker vanishes and a
/// redelivery counts again): tests that write hold a turn for their whole run.
/// (An async lock: each test runs its own runtime, and the turn is held across awaits.)
pub async fn exclusive() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::const_new(());
    TURN.lock().await
}

pub fn emulator() -> &'static Emulator {
    static EMULATOR: OnceLock<Emulator> = OnceLock::new();
    EMULATOR.get_or_init(start)
}

fn start() -> Emulator {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut process = Command::new("node")
        .arg(root.join("scripts/lib/emulator.mjs"))
        .current_dir(&root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node is needed to start the AWS emulator (run `make setup`)");
    let mut line = String::new();
    BufReader::new(process.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let info: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| {
        panic!("the emulator did not start ({e}); is `make setup` done? output: {line:?}")
    });
    let field = |name: &str| info[name].as_str().unwrap().to_string();
    Emulator {
        endpoint: field("endpoint"),
        region: field("region"),
        access_key_id: info["credentials"]["accessKeyId"].as_str().unwrap().into(),
        secret_access_key: info["credentials"]["secretAccessKey"]
            .as_str()
            .unwrap()
            .into(),
        table: field("table"),
        bucket: field("bucket"),
        topic_arn: field("topicArn"),
        alerts_queue_url: field("alertsQueueUrl"),
        _process: process,
    }
}

impl Emulator {
    /// The collector's configuration for this emulator.
    pub fn config(&self) -> Config {
        Config {
            sites: [("demo".to_string(), vec!["*".to_string()])].into(),
            aws: AwsConfig {
                region: self.region.clone(),
                endpoint: Some(self.endpoint.clone()),
                access_key_id: self.access_key_id.clone(),
                secret_access_key: self.secret_access_key.clone(),
                // The Paid plan's cap: tests of the budget set their own.
                subrequest_limit: 10_000,
            },
            table: self.table.clone(),
            bucket: self.bucket.clone(),
            topic_arn: Some(self.topic_arn.clone()),
            retention_days: 30,
            ip_hash_key: b"native-tests-ip-hash-key".to_vec(),
            alert_window_ms: 600_000,
            rage_alert_threshold: 3,
            max_alerts: 20,
            log_keys: [("shop-api".to_string(), "native-test-log-key".to_string())].into(),
            read_keys: Default::default(),
            severity_rules: vec![],
            log_requests: collector::config::LogRequests::All,
            surge_window_ms: 300_000,
            surge_factor: 3.0,
            surge_min: 50,
        }
    }
}
