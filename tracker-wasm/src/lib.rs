//! Spoor's in-page tracker.
//!
//! The modules at the top are plain Rust with no browser types, tested natively: the JSON
//! writer, ids, event encoding, batching and delivery bookkeeping, click geometry and selectors.
//! `browser` is the thin wasm32-only glue that reads the page and calls the web APIs.

pub mod batch;
pub mod clicks;
pub mod event;
pub mod ids;
pub mod json;
pub mod selector;

#[cfg(target_arch = "wasm32")]
mod browser;
