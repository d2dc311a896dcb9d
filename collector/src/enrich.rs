//! What the collector adds to a batch from the request that carried it. The raw client IP goes
//! in and only a keyed hash comes out: it is never stored or logged.

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::clock;
use crate::ua::{self, Agent};

/// The sender of a batch, as far as the collector may know and keep it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Client {
    #[serde(flatten)]
    pub agent: Agent,
    /// ISO country code from the edge's request metadata, when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Keyed hash of the IP address with a salt that changes every UTC day: counts distinct
    /// clients within a day, cannot be joined across days or reversed without the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_hash: Option<String>,
}

/// What the request says about its sender (from headers and the edge's metadata).
#[derive(Debug, Default)]
pub struct RequestFacts<'a> {
    pub user_agent: &'a str,
    /// [`ip_hash`] of the client's IP: the edge needs it before the batch is read (to rate
    /// limit the client), and hashes it once.
    pub ip_hash: Option<String>,
    pub country: Option<&'a str>,
    /// The page's `navigator.webdriver`.
    pub webdriver: bool,
}

pub fn client(facts: RequestFacts<'_>) -> Client {
    Client {
        agent: ua::classify(facts.user_agent, facts.webdriver),
        // "XX" and "T1" are Cloudflare's "unknown" and "Tor".
        country: facts
            .country
            .filter(|c| c.len() == 2 && *c != "XX")
            .map(str::to_string),
        ip_hash: facts.ip_hash,
    }
}

/// HMAC-SHA256 of `day|ip` under the secret key, first 16 bytes in hex. The day is the salt:
/// the same IP hashes differently tomorrow.
pub fn ip_hash(ip: &str, key: &[u8], now_ms: i64) -> String {
    let (day, _) = clock::utc_date_hour(now_ms);
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(day.as_bytes());
    mac.update(b"|");
    mac.update(ip.trim().as_bytes());
    let digest = mac.finalize().into_bytes();
    crate::hex(&digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;
    const NOW: i64 = 1_763_791_200_000;

    #[test]
    fn the_ip_hash_is_keyed_salted_daily_and_never_the_ip() {
        let h = ip_hash("203.0.113.7", b"key", NOW);
        assert_eq!(h.len(), 32);
        assert!(!h.contains("203"));
        assert_eq!(
            h,
            ip_hash("203.0.113.7", b"key", NOW + 3_600_000),
            "same day"
        );
        assert_ne!(h, ip_hash("203.0.113.7", b"key", NOW + DAY), "next day");
        assert_ne!(h, ip_hash("203.0.113.7", b"other", NOW), "other key");
        assert_ne!(h, ip_hash("203.0.113.8", b"key", NOW), "other ip");
    }

    #[test]
    fn client_facts_are_enriched() {
        let c = client(RequestFacts {
            user_agent: "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
            ip_hash: Some(ip_hash("198.51.100.1", b"k", NOW)),
            country: Some("DE"),
            webdriver: false,
        });
        assert_eq!(c.agent.browser, "Firefox");
        assert_eq!(c.country.as_deref(), Some("DE"));
        assert_eq!(c.ip_hash, Some(ip_hash("198.51.100.1", b"k", NOW)));
    }

    #[test]
    fn unknown_countries_are_left_out() {
        for country in [Some("XX"), Some(""), None] {
            let c = client(RequestFacts {
                country,
                ..Default::default()
            });
            assert_eq!(c.country, None);
        }
    }
}
