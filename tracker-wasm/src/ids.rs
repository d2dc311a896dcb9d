//! Random ids for events, batches, visitors and sessions. An id is what makes a resend
//! recognisable: the collector keys storage by it, so the same id twice is one fact.

use alloc::string::String;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// 16 random bytes as 22 characters of URL-safe base64 without padding: all 128 bits, in 14
/// characters fewer than a UUID — on every event of every batch.
pub fn random_id(bytes: [u8; 16]) -> String {
    let mut out = String::with_capacity(22);
    // Three bytes make four characters; the last byte alone makes two.
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, b| n << 8 | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_url_safe_base64_of_the_16_bytes() {
        // Vectors from Node: Buffer.from(bytes).toString("base64url").
        assert_eq!(random_id([0xff; 16]), "_____________________w");
        assert_eq!(random_id([0; 16]), "AAAAAAAAAAAAAAAAAAAAAA");
        let bytes: [u8; 16] = core::array::from_fn(|i| i as u8);
        assert_eq!(random_id(bytes), "AAECAwQFBgcICQoLDA0ODw");
        let bytes: [u8; 16] = core::array::from_fn(|i| (i as u8) * 17);
        assert_eq!(random_id(bytes), "ABEiM0RVZneImaq7zN3u_w");
    }
}
