//! The offline store: sealed batches kept in `localStorage` so that what a page could not
//! deliver (offline, collector down, tab closed) is sent by the next page of the site. Each
//! page owns one entry; a later page adopts the entries of pages that are gone. Resending a
//! batch that did arrive after all is harmless: the collector stores it once.

use alloc::string::String;
use alloc::vec::Vec;

use crate::batch::Sealed;
use crate::json::{cat, parse_uint, push_uint};

/// Prefix of the storage keys (one per tab, suffixed with its session id).
pub const KEY_PREFIX: &str = "spoor.out.";
/// Largest entry written; the oldest batches give way first.
pub const MAX_BYTES: usize = 512 * 1024;
const VERSION: &str = "s2";
/// Entries written before batches carried their wire version in `head` (all of them v1).
const VERSION_V1: &str = "s1";

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
    let mut out = Vec::new();
    // Split by hand on the bytes (tab and newline are ASCII, so every cut is a char
    // boundary): `split`/`split_once` on a char cost the page's download ~0.7 KB.
    let bytes = text.as_bytes();
    let mut v1 = None; // whether the entry is of the previous version, once its first line is read
    let mut fields = [""; 4];
    let (mut n, mut start) = (0, 0);
    for i in 0..=bytes.len() {
        let b = bytes.get(i).copied().unwrap_or(b'\n');
        if b != b'\t' && b != b'\n' {
            continue;
        }
        let field = text.get(start..i).unwrap_or_default();
        start = i + 1;
        if let Some(slot) = fields.get_mut(n) {
            *slot = field;
        }
        n += 1;
        if b == b'\t' {
            continue;
        }
        match v1 {
            None if n == 1 && (field == VERSION || field == VERSION_V1) => {
                v1 = Some(field == VERSION_V1)
            }
            None => return out,
            Some(v1) => {
                let [id, count, head, events] = fields;
                let plausible = n == 4
                    && !id.is_empty()
                    && head.starts_with('"')
                    && events.starts_with('[')
                    && events.ends_with(']');
                if let (true, Some(count)) = (plausible, parse_uint(count)) {
                    out.push(Sealed {
                        id: id.into(),
                        head: if v1 {
                            cat(&["\"v\":1,", head])
                        } else {
                            head.into()
                        },
                        events: events.into(),
                        count: count as usize,
                    });
                }
            }
        }
        n = 0;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{Header, Limits, Outbox};
    use crate::event::{Event, Kind};

    fn batches(n: usize) -> Vec<Sealed> {
        let mut o = Outbox::new(Limits {
            max_events: 2,
            max_held: usize::MAX,
            ..Limits::default()
        });
        for i in 0..n * 2 {
            o.push(&Event {
                ts: 1_763_791_100_000 + i as i64,
                url: "/a\tb\nc".into(),
                kind: Kind::Pageview {
                    title: i.to_string(),
                    referrer: String::new(),
                },
            });
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
        let batch = wire::parse(decode(&text)[1].body(5).as_bytes()).unwrap();
        assert_eq!(batch.events[0].url, "/a\tb\nc");
    }

    #[test]
    fn entries_of_the_previous_version_are_sent_as_v1() {
        let event =
            r#"{"id":"e1","k":"pageview","ts":1763791100000,"url":"/","title":"","ref":""}"#;
        let head = r#""site":"demo","batch":"b1","vid":"v","sid":"s","ctx":{"vw":1,"vh":1,"dpr":1,"lang":"en"}"#;
        let text = ["s1\nb1\t1\t", head, "\t[", event, "]"].concat();
        let kept = decode(&text);
        let batch = wire::parse(kept[0].body(5).as_bytes()).unwrap();
        assert_eq!(
            (batch.batch.as_str(), batch.events[0].id.as_str()),
            ("b1", "e1")
        );
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
        let damaged = format!(
            "{good}\nb9\tx\t\"h\"\t[]\nb10\t1\tnot-json\t[]\nb11\t1\t\"h\"\t[]\t[]\ntruncated"
        );
        assert_eq!(decode(&damaged).len(), 1);
    }
}
