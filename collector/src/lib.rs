//! Spoor's collector.
//!
//! Plain Rust, tested natively: configuration, ingest (parse + validate), enrichment, the
//! aggregates, alerts and records an envelope becomes, the AWS clients and the store that
//! writes them. The Worker entry points
//! (`edge`) are a thin wasm32-only layer over these.

pub mod aggregates;
pub mod alerts;
pub mod aws;
pub mod clock;
pub mod config;
pub mod enrich;
pub mod error;
pub mod ingest;
pub mod logs;
pub mod reads;
pub mod records;
pub mod store;
pub mod subrequests;
pub mod surge;
pub mod ua;

#[cfg(target_arch = "wasm32")]
mod edge;

pub use error::{Error, Result};

/// Bytes as lower-case hex: hashes in keys, ids and signatures.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]])
        .map(char::from)
        .collect()
}
