//! Bit streams for the block codecs: a writer that appends the low `n`
//! bits of a value most-significant bit first, and a reader that fails
//! (never panics) when asked for bits past the end; plus the small
//! variable-length integers the version-2 block sections use for their
//! parameters (nibbles with a continuation bit, so a small number costs
//! 5 bits instead of a byte).

use super::error::DecodeError;

/// Appends bits, most significant first.
#[derive(Clone, Debug, Default)]
pub(crate) struct BitWriter {
    bytes: Vec<u8>,
    acc: u128,
    nacc: u32,
}

impl BitWriter {
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(bytes),
            acc: 0,
            nacc: 0,
        }
    }

    /// Appends the low `n` (≤ 64) bits of `v`.
    #[inline]
    pub(crate) fn write(&mut self, v: u64, n: u32) {
        debug_assert!(n <= 64);
        if n == 0 {
            return;
        }
        let v = if n == 64 { v } else { v & ((1u64 << n) - 1) };
        self.acc = (self.acc << n) | u128::from(v);
        self.nacc += n;
        while self.nacc >= 8 {
            self.nacc -= 8;
            self.bytes.push((self.acc >> self.nacc) as u8);
        }
        self.acc &= (1u128 << self.nacc) - 1;
    }

    /// Appends `v` in groups of 4 bits, least significant group first,
    /// each preceded by a bit saying whether another group follows.
    pub(crate) fn uvar(&mut self, mut v: u64) {
        loop {
            let more = v >= 16;
            self.write(u64::from(more) << 4 | (v & 15), 5);
            v >>= 4;
            if !more {
                return;
            }
        }
    }

    /// Appends a count that is usually zero: `0`, or `1` and the count − 1
    /// as a [`Self::uvar`].
    pub(crate) fn count(&mut self, n: u64) {
        if n == 0 {
            self.write(0, 1);
        } else {
            self.write(1, 1);
            self.uvar(n - 1);
        }
    }

    /// Appends a signed value as a zigzag [`Self::uvar`].
    pub(crate) fn svar(&mut self, v: i64) {
        self.uvar(zigzag(v));
    }

    /// Bits written so far.
    pub(crate) fn bit_len(&self) -> u64 {
        self.bytes.len() as u64 * 8 + u64::from(self.nacc)
    }

    /// The bytes so far, the last one padded with zero bits.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bytes.len() + 1);
        out.extend_from_slice(&self.bytes);
        if self.nacc > 0 {
            out.push((self.acc << (8 - self.nacc)) as u8);
        }
        out
    }
}

/// Reads bits, most significant first.
#[derive(Debug)]
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    what: &'static str,
    base_offset: usize,
}

impl<'a> BitReader<'a> {
    /// Reads `data`; errors report offsets from `base_offset` inside `what`.
    pub(crate) fn new(data: &'a [u8], what: &'static str, base_offset: usize) -> Self {
        Self {
            data,
            pos: 0,
            what,
            base_offset,
        }
    }

    fn eof(&self, n: u32) -> DecodeError {
        DecodeError::new(
            self.what,
            self.base_offset + self.pos / 8,
            format!(
                "bit stream ends at bit {} while reading {n} more bits",
                self.pos
            ),
        )
    }

    /// Reads `n` (≤ 64) bits.
    #[inline]
    pub(crate) fn read(&mut self, n: u32) -> Result<u64, DecodeError> {
        if self.pos + n as usize > self.data.len() * 8 {
            return Err(self.eof(n));
        }
        // Fast path: the bits lie in the 8 bytes from the current one.
        let byte = self.pos / 8;
        if (1..=56).contains(&n)
            && let Some(chunk) = self.data.get(byte..byte + 8)
        {
            let mut a = [0u8; 8];
            a.copy_from_slice(chunk);
            let v = (u64::from_be_bytes(a) << (self.pos % 8)) >> (64 - n);
            self.pos += n as usize;
            return Ok(v);
        }
        let mut out = 0u64;
        let mut need = n;
        while need > 0 {
            let Some(&byte) = self.data.get(self.pos / 8) else {
                return Err(self.eof(need));
            };
            let off = (self.pos % 8) as u32;
            let avail = 8 - off;
            let take = avail.min(need);
            let bits = (u64::from(byte) >> (avail - take)) & ((1u64 << take) - 1);
            out = if take == 64 {
                bits
            } else {
                (out << take) | bits
            };
            self.pos += take as usize;
            need -= take;
        }
        Ok(out)
    }

    /// Bits read so far.
    pub(crate) fn position(&self) -> u64 {
        self.pos as u64
    }

    /// The next `n` bits, without consuming them.
    pub(crate) fn peek(&self, n: u32) -> Result<u64, DecodeError> {
        let mut copy = BitReader { ..*self };
        copy.read(n)
    }

    /// Bits left to read.
    pub(crate) fn remaining(&self) -> u64 {
        (self.data.len() * 8 - self.pos) as u64
    }

    /// An error at the current position.
    pub(crate) fn err(&self, reason: impl Into<String>) -> DecodeError {
        DecodeError::new(self.what, self.base_offset + self.pos / 8, reason)
    }

    /// Reads a value written by [`BitWriter::uvar`].
    pub(crate) fn uvar(&mut self, field: &str) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(4) {
            let g = self.read(5)?;
            v |= (g & 15) << shift;
            if g & 16 == 0 {
                return Ok(v);
            }
        }
        Err(self.err(format!(
            "{field}: variable-length integer longer than 64 bits"
        )))
    }

    /// Reads a count written by [`BitWriter::count`].
    pub(crate) fn count(&mut self, field: &str) -> Result<u64, DecodeError> {
        if !self.bit()? {
            return Ok(0);
        }
        // At most u64::MAX: the writer adds one to at most u64::MAX − 1.
        Ok(self.uvar(field)?.saturating_add(1))
    }

    /// Reads a value written by [`BitWriter::svar`].
    pub(crate) fn svar(&mut self, field: &str) -> Result<i64, DecodeError> {
        Ok(unzigzag(self.uvar(field)?))
    }

    #[inline]
    pub(crate) fn bit(&mut self) -> Result<bool, DecodeError> {
        Ok(self.read(1)? == 1)
    }

    /// Counts leading one bits, reading at most `max` bits (stops after the
    /// first zero, which it consumes).
    #[inline]
    pub(crate) fn ones(&mut self, max: u32) -> Result<u32, DecodeError> {
        let mut n = 0;
        while n < max && self.bit()? {
            n += 1;
        }
        Ok(n)
    }
}

/// Bits [`BitWriter::uvar`] takes for `v`.
pub(crate) fn uvar_bits(v: u64) -> u64 {
    let groups = (64 - u64::from(v.leading_zeros())).div_ceil(4).max(1);
    groups * 5
}

/// Bits [`BitWriter::count`] takes for `n`.
pub(crate) fn count_bits(n: u64) -> u64 {
    if n == 0 { 1 } else { 1 + uvar_bits(n - 1) }
}

/// Maps signed to unsigned so that small magnitudes stay small.
#[inline]
pub(crate) fn zigzag(x: i64) -> u64 {
    ((x << 1) ^ (x >> 63)) as u64
}

/// The inverse of [`zigzag`].
#[inline]
pub(crate) fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_mixed_widths() {
        let items: Vec<(u64, u32)> = vec![
            (1, 1),
            (0, 1),
            (0x7f, 7),
            (u64::MAX, 64),
            (5, 3),
            (0, 64),
            (0xabcd, 16),
        ];
        let mut w = BitWriter::default();
        for &(v, n) in &items {
            w.write(v, n);
        }
        let total: u32 = items.iter().map(|x| x.1).sum();
        assert_eq!(w.bit_len(), u64::from(total));
        let bytes = w.to_bytes();
        let mut r = BitReader::new(&bytes, "test", 0);
        for &(v, n) in &items {
            assert_eq!(r.read(n).unwrap(), v);
        }
        assert!(r.read(8).is_err());
    }

    #[test]
    fn variable_length_integers_round_trip_with_their_size() {
        let vals = [0u64, 1, 15, 16, 255, 10_000, 1 << 40, u64::MAX];
        let mut w = BitWriter::default();
        for &v in &vals {
            let before = w.bit_len();
            w.uvar(v);
            assert_eq!(w.bit_len() - before, uvar_bits(v), "{v}");
            w.svar(-(v as i64));
            let before = w.bit_len();
            w.count(v.min(u64::MAX - 1));
            assert_eq!(w.bit_len() - before, count_bits(v.min(u64::MAX - 1)));
        }
        let bytes = w.to_bytes();
        let mut r = BitReader::new(&bytes, "test", 0);
        for &v in &vals {
            assert_eq!(r.uvar("u").unwrap(), v);
            assert_eq!(r.svar("s").unwrap(), -(v as i64));
            assert_eq!(r.count("c").unwrap(), v.min(u64::MAX - 1));
        }
        // Seventeen groups that all say "more" are refused.
        let mut w = BitWriter::default();
        for _ in 0..17 {
            w.write(0b11111, 5);
        }
        let bytes = w.to_bytes();
        let e = BitReader::new(&bytes, "test", 0).uvar("width").unwrap_err();
        assert!(e.to_string().contains("width"), "{e}");
    }
}
