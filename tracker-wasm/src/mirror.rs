//! The offline store: sealed batches kept in `localStorage` so that what a page could not
//! deliver (offline, collector down, tab closed) is sent by the next page of the site. Each
//! page owns one entry; a later page adopts the entries of pages that are gone. Resending a
//! batch that did arrive after all is harmless: the collector stores it once.

use alloc::string::String;
use alloc::vec::Vec;

use crate::batch::Sealed;
use crate::json::{parse_uint, push_uint};

/// Prefix of the storage keys (one per tab, suffixed with its session id).
pub const KEY_PREFIX: &str = "spoor.out.";
/// Largest entry written; the oldest batches give way first.
pub const MAX_BYTES: usize = 512 * 1024;
const VERSION: &str = "s1";

/// Encodes batches, oldest first, dropping the oldest ones that do not fit [`MAX_BYTES`].
/// JSON as our writer produces it never holds a raw tab or newline, so they separate fields.
pub fn encode<'a>(batches: impl DoubleEndedIterator<Item = &'a Sealed>) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut size = VERSION.len();
    for b in batches.rev() {
        let mut line = String::with_capacity(b.head.len() + b.events.len() + 50);
        line.push_str(&b.id);
        line.push('\t');
        push_uint(&mut line, b.count as u64);
        line.push('\t');
        line.push_str(&b.head);
        line.push('\t');
        line.push_str(&b.events);
        if size + line.len() + 1 > MAX_BYTES {
            break;
        }
        size += line.len() + 1;
        lines.push(line);
    }
    let mut out = String::with_capacity(size);
    out.push_str(VERSION);
    for line in lines.iter().rev() {
        out.push('\n');
        out.push_str(line);
    }
    out
}

/// Decodes what [`encode`] wrote; anything unreadable (another version, a truncated write,
/// someone else's data) is skipped, never trusted.
pub fn decode(text: &str) -> Vec<Sealed> {
    let mut lines = text.split('\n');
    let mut out = Vec::new();
    if lines.next() != Some(VERSION) {
        return out;
    }
    // (Loops rather than iterator adapters: they cost the page's download less.)
    for line in lines {
        let Some((id, rest)) = line.split_once('\t') else {
            continue;
        };
        let Some((count, rest)) = rest.split_once('\t') else {
            continue;
        };
        let (Some((head, events)), Some(count)) = (rest.split_once('\t'), parse_uint(count)) else {
            continue;
        };
        let plausible = !id.is_empty()
            && head.starts_with('"')
            && events.starts_with('[')
            && events.ends_with(']');
        if plausible {
            out.push(Sealed {
                id: id.into(),
                head: head.into(),
                events: events.into(),
                count: count as usize,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{Header, Limits, Outbox};

    fn batches(n: usize) -> Vec<Sealed> {
        let mut o = Outbox::new(Limits {
            max_events: 2,
            max_held: usize::MAX,
            ..Limits::default()
        });
        for i in 0..n * 2 {
            o.push(format!(
                r#"{{"id":"e{i}","k":"pageview","ts":1,"url":"/a\tb\nc"}}"#
            ));
        }
        let header = Header {
            site: "demo".into(),
            vid: "v".into(),
            sid: "s".into(),
            lang: "en".into(),
            ..Header::default()
        };
        let mut k = 0;
        o.seal(&header, || {
            k += 1;
            format!("b{k}")
        });
        o.sealed().cloned().collect()
    }

    #[test]
    fn round_trips_batches_in_order() {
        let original = batches(3);
        let text = encode(original.iter());
        assert_eq!(decode(&text), original);
        // What comes back still parses as the wire format.
        let batch: wire::Batch = serde_json::from_str(&decode(&text)[1].body(5)).unwrap();
        assert_eq!(batch.events[0].url, "/a\tb\nc");
    }

    #[test]
    fn keeps_the_newest_within_the_size_bound() {
        let many = batches(4000);
        let text = encode(many.iter());
        assert!(text.len() <= MAX_BYTES);
        let kept = decode(&text);
        assert!(kept.len() < many.len());
        assert_eq!(kept.last(), many.last(), "the newest survive");
    }

    #[test]
    fn unreadable_entries_are_skipped() {
        assert!(decode("").is_empty());
        assert!(decode("s0\nb\t1\t\"h\"\t[]").is_empty(), "another version");
        let good = encode(batches(1).iter());
        let damaged = format!("{good}\nb9\tx\t\"h\"\t[]\nb10\t1\tnot-json\t[]\ntruncated");
        assert_eq!(decode(&damaged).len(), 1);
    }
}
