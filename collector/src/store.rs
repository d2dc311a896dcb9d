//! Writes a validated envelope to the stores. Called by the queue consumer (or, without a
//! queue, after the response), natively by the tests. Safe to repeat: see `records`.

use crate::aws::dynamodb::DynamoDb;
use crate::aws::Aws;
use crate::config::Config;
use crate::error::Result;
use crate::ingest::Envelope;
use crate::records;

/// The stores an envelope is written to.
#[derive(Clone, Debug)]
pub struct Stores {
    pub dynamodb: DynamoDb,
    pub retention_days: u32,
}

impl Stores {
    pub fn new(config: &Config) -> Self {
        let aws = Aws::new(config.aws.clone());
        Stores {
            dynamodb: DynamoDb::new(aws, &config.table),
            retention_days: config.retention_days,
        }
    }

    pub async fn write(&self, env: &Envelope) -> Result<()> {
        let items = records::raw_events(env, self.retention_days);
        self.dynamodb.put_all(items).await
    }
}
