//! Sessions: a visit ends after 30 minutes without activity, as in the analytics tools site
//! owners compare with. The id storage keeps the session id with the time of its last activity
//! (`<ms><id>`), so a later page, or another tab sharing `localStorage`, continues the session
//! only while it is alive.

use alloc::string::String;

use crate::json::push_uint;

/// Inactivity after which the next activity begins a new session (ms).
pub const IDLE_MS: i64 = 30 * 60_000;
/// Least time between two writes of the entry while the visitor is active (ms): inputs come
/// many times a second, and the entry's time may lag this much behind.
pub const KEEP_EVERY_MS: i64 = 60_000;

/// Digits of a time in ms from 2001 to 2286, the entry's first part.
const TIME_DIGITS: usize = 13;

/// The entry kept for session `id`, last active at `at`: `<time><id>`.
pub fn entry(id: &str, at: i64) -> String {
    let mut entry = String::new();
    push_uint(&mut entry, at as u64);
    entry.push_str(id);
    entry
}

/// The id of a kept entry, if the session is still alive at `now`. (Read by hand, with no
/// searching or parsing: those bring code the page's download would pay for.)
pub fn alive(entry: &str, now: i64) -> Option<&str> {
    let (time, id) = (
        entry.as_bytes().get(..TIME_DIGITS)?,
        entry.get(TIME_DIGITS..)?,
    );
    let mut at = 0i64;
    for b in time {
        if !b.is_ascii_digit() {
            return None;
        }
        at = at * 10 + i64::from(b - b'0');
    }
    (!id.is_empty() && now - at <= IDLE_MS).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_763_791_200_000;

    #[test]
    fn an_entry_is_alive_for_thirty_idle_minutes() {
        let kept = entry("AbC-_9", NOW);
        assert_eq!(kept, "1763791200000AbC-_9");
        assert_eq!(alive(&kept, NOW), Some("AbC-_9"));
        assert_eq!(alive(&kept, NOW + IDLE_MS), Some("AbC-_9"));
        assert_eq!(alive(&kept, NOW + IDLE_MS + 1), None);
        // A clock set back since is still the same session.
        assert_eq!(alive(&kept, NOW - 5_000), Some("AbC-_9"));
    }

    #[test]
    fn old_and_broken_entries_begin_a_new_session() {
        // An id kept before sessions expired has no time.
        assert_eq!(alive("AbCdEfGhIjKlMnOpQrStUv", NOW), None);
        assert_eq!(alive("", NOW), None);
        assert_eq!(alive("1763791200000", NOW), None, "no id");
        assert_eq!(alive("17637912000x0AbC", NOW), None);
        assert_eq!(alive("176379120000", NOW), None, "too short");
        assert_eq!(alive("1763791200000é", NOW), Some("é"));
    }
}
