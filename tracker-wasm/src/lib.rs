//! Spoor's in-page tracker.
//!
//! The modules at the top are plain Rust with no browser types, tested natively: the JSON
//! writer, ids, configuration, event encoding, batching and the offline store, dwell time,
//! scroll depth, click geometry, rage clicks and selectors, error limits, custom properties.
//! `browser` is the thin wasm32-only glue that reads the page and calls the web APIs.
//!
//! Built for the page (feature `page`, see scripts/build-tracker.sh) the crate is `no_std` with
//! a small allocator and a panic handler that traps: std's panic and formatting machinery and
//! its allocator cost more than the tracker itself (see ARCHITECTURE.md). So the code here
//! avoids `format!` and number formatting. Tests and lints build it with std.

#![cfg_attr(feature = "page", no_std)]

extern crate alloc;

pub mod batch;
pub mod clicks;
pub mod config;
pub mod dwell;
pub mod errors;
pub mod event;
pub mod ids;
pub mod json;
pub mod mirror;
pub mod props;
pub mod scroll;
pub mod selector;
pub mod session;
pub mod tracker;

#[cfg(target_arch = "wasm32")]
mod browser;

#[cfg(all(target_arch = "wasm32", feature = "page"))]
#[global_allocator]
// SAFETY: wasm32-unknown-unknown without atomics has a single thread.
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

/// A panic would be a bug; trapping ends this instance without reaching into the page.
#[cfg(all(target_arch = "wasm32", feature = "page"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}
