//! Bit streams for the Gorilla codec: a writer that appends the low `n`
//! bits of a value most-significant bit first, and a reader that fails
//! (never panics) when asked for bits past the end.

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
}
