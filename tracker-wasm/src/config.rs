//! The tracker's configuration, from the `data-*` attributes of its script tag, and the
//! privacy decision of whether to track at all.
//!
//! ```html
//! <script defer src="https://collector/t.js" data-site="shop"
//!         data-storage="session" data-flush="10" data-idle="30" data-dnt="honor" data-spa="on">
//! ```

use alloc::string::String;

use crate::json::{cat, parse_uint};

/// Where visitor and session ids (and the offline store) are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// `sessionStorage`: nothing outlives the tab (the default).
    Session,
    /// `localStorage`: a visitor is recognised across visits.
    Local,
    /// Memory only: each page view is a new visitor.
    None,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub site: String,
    /// Where batches are posted.
    pub endpoint: String,
    pub storage: Storage,
    /// Longest a recorded event waits before it is sent (ms).
    pub flush_ms: i32,
    /// Input older than this no longer counts as engagement (ms).
    pub idle_ms: f64,
    /// Honour Do Not Track and Global Privacy Control.
    pub honor_dnt: bool,
    /// Count single-page-app navigations (history API) as pageviews.
    pub spa: bool,
}

/// Reads the configuration; `get` returns a `data-*` attribute by name (`"site"` for
/// `data-site`), `base` is the URL the tracker was loaded from. Errors say what is wrong.
pub fn parse(get: impl Fn(&str) -> Option<String>, base: &str) -> Result<Config, &'static str> {
    let site = get("site")
        .filter(|s| !s.is_empty() && s.len() <= 64)
        .ok_or("spoor: data-site is missing on the script tag")?;
    let seconds = |name: &str, default: u32, min: u32, max: u32| match get(name) {
        None => Ok(default),
        Some(v) => parse_uint(v.trim_ascii())
            .filter(|n| (min..=max).contains(n))
            .ok_or("spoor: data-flush must be 1–300 seconds, data-idle 5–600"),
    };
    let storage = match get("storage").as_deref() {
        None | Some("session") => Storage::Session,
        Some("local") => Storage::Local,
        Some("none") => Storage::None,
        Some(_) => return Err("spoor: data-storage must be session, local or none"),
    };
    Ok(Config {
        endpoint: get("api").unwrap_or_else(|| cat(&[base, "v1/events"])),
        site,
        storage,
        flush_ms: (seconds("flush", 10, 1, 300)? * 1000) as i32,
        idle_ms: f64::from(seconds("idle", 30, 5, 600)? * 1000),
        honor_dnt: get("dnt").as_deref() != Some("ignore"),
        spa: get("spa").as_deref() != Some("off"),
    })
}

/// Whether this visit may be tracked: not after the visitor opted out, and not when the
/// browser asks for no tracking (DNT, GPC) unless the site owner chose to ignore that.
pub fn allowed(config: &Config, do_not_track: Option<&str>, gpc: bool, opted_out: bool) -> bool {
    let asks_not = matches!(do_not_track, Some("1" | "yes")) || gpc;
    !(opted_out || config.honor_dnt && asks_not)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn attrs(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn defaults() {
        let c = parse(attrs(&[("site", "shop")]), "https://c.example/").unwrap();
        assert_eq!(c.endpoint, "https://c.example/v1/events");
        assert_eq!(c.storage, Storage::Session);
        assert_eq!((c.flush_ms, c.idle_ms), (10_000, 30_000.0));
        assert!(c.honor_dnt && c.spa);
    }

    #[test]
    fn every_attribute() {
        let c = parse(
            attrs(&[
                ("site", "shop"),
                ("api", "https://c.example/custom"),
                ("storage", "local"),
                ("flush", " 5 "), // spaces around, as HTML allows
                ("idle", "60"),
                ("dnt", "ignore"),
                ("spa", "off"),
            ]),
            "https://c.example/",
        )
        .unwrap();
        assert_eq!(c.endpoint, "https://c.example/custom");
        assert_eq!(c.storage, Storage::Local);
        assert_eq!((c.flush_ms, c.idle_ms), (5_000, 60_000.0));
        assert!(!c.honor_dnt && !c.spa);
    }

    #[test]
    fn bad_attributes_are_explained() {
        let base = "https://c.example/";
        assert!(parse(attrs(&[]), base).unwrap_err().contains("data-site"));
        assert!(parse(attrs(&[("site", "s"), ("storage", "cookie")]), base)
            .unwrap_err()
            .contains("data-storage"));
        for bad in ["0", "301", "ten", "-5"] {
            assert!(
                parse(attrs(&[("site", "s"), ("flush", bad)]), base).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn privacy_signals_are_honoured_unless_the_site_says_otherwise() {
        let honor = parse(attrs(&[("site", "s")]), "/").unwrap();
        let ignore = parse(attrs(&[("site", "s"), ("dnt", "ignore")]), "/").unwrap();
        assert!(allowed(&honor, None, false, false));
        assert!(allowed(&honor, Some("0"), false, false));
        assert!(!allowed(&honor, Some("1"), false, false));
        assert!(!allowed(&honor, None, true, false));
        assert!(allowed(&ignore, Some("1"), true, false));
        assert!(
            !allowed(&ignore, None, false, true),
            "opting out always wins"
        );
    }
}
