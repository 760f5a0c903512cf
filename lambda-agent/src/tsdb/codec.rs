//! Byte-level encoding helpers shared by the store's formats (block
//! headers, WAL records, index shards, the state file): little-endian fixed
//! integers, LEB128 varints, length-prefixed strings, and a strict reader
//! whose every failure names the structure, the byte offset and the reason.

use super::error::DecodeError;

/// Appends encoded values to a buffer.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    pub(crate) buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self {
            buf: Vec::with_capacity(n),
        }
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub(crate) fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub(crate) fn f64(&mut self, v: f64) {
        self.u64(v.to_bits());
    }

    pub(crate) fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    pub(crate) fn zigzag(&mut self, v: i64) {
        self.varint(((v << 1) ^ (v >> 63)) as u64);
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.varint(b.len() as u64);
        self.buf.extend_from_slice(b);
    }

    pub(crate) fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    /// Appends the CRC32 of everything written so far.
    pub(crate) fn seal_crc(&mut self) {
        let crc = crc32fast::hash(&self.buf);
        self.u32(crc);
    }
}

/// Reads encoded values from a slice, failing precisely.
#[derive(Clone, Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], what: &'static str) -> Self {
        Self { buf, pos: 0, what }
    }

    /// Checks and strips a trailing CRC32 over everything before it.
    pub(crate) fn with_crc(buf: &'a [u8], what: &'static str) -> Result<Self, DecodeError> {
        let Some(body_len) = buf.len().checked_sub(4) else {
            return Err(DecodeError::new(
                what,
                0,
                format!("{} bytes is too short for a checksum", buf.len()),
            ));
        };
        let (body, tail) = buf.split_at(body_len);
        let stored = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
        let actual = crc32fast::hash(body);
        if stored != actual {
            return Err(DecodeError::new(
                what,
                body_len,
                format!("checksum mismatch (stored {stored:08x}, computed {actual:08x})"),
            ));
        }
        Ok(Self::new(body, what))
    }

    pub(crate) fn err(&self, reason: impl Into<String>) -> DecodeError {
        DecodeError::new(self.what, self.pos, reason)
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(self.err(format!(
                "{field}: needs {n} bytes, {} left",
                self.remaining()
            )));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, field: &str) -> Result<[u8; N], DecodeError> {
        let s = self.take(N, field)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub(crate) fn u8(&mut self, field: &str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(field)?[0])
    }

    pub(crate) fn u32(&mut self, field: &str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    pub(crate) fn u64(&mut self, field: &str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }

    pub(crate) fn i64(&mut self, field: &str) -> Result<i64, DecodeError> {
        Ok(i64::from_le_bytes(self.array(field)?))
    }

    pub(crate) fn f64(&mut self, field: &str) -> Result<f64, DecodeError> {
        Ok(f64::from_bits(self.u64(field)?))
    }

    pub(crate) fn varint(&mut self, field: &str) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = self.u8(field)?;
            let part = u64::from(b & 0x7f);
            if i == 9 && part > 1 {
                return Err(self.err(format!("{field}: varint overflows 64 bits")));
            }
            v |= part << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.err(format!("{field}: varint longer than 10 bytes")))
    }

    pub(crate) fn zigzag(&mut self, field: &str) -> Result<i64, DecodeError> {
        let v = self.varint(field)?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    /// A count of items that each take at least `min_item_bytes`: refused
    /// when the rest of the buffer cannot hold that many, so a corrupt count
    /// never makes a decoder allocate without bound.
    pub(crate) fn count(
        &mut self,
        field: &str,
        min_item_bytes: usize,
    ) -> Result<usize, DecodeError> {
        let n = self.varint(field)?;
        let fits = (self.remaining() / min_item_bytes.max(1)) as u64;
        if n > fits {
            return Err(self.err(format!(
                "{field}: count {n} cannot fit in the {} bytes left",
                self.remaining()
            )));
        }
        Ok(n as usize)
    }

    pub(crate) fn bytes(&mut self, field: &str) -> Result<&'a [u8], DecodeError> {
        let n = self.count(field, 1)?;
        self.take(n, field)
    }

    pub(crate) fn str(&mut self, field: &str) -> Result<&'a str, DecodeError> {
        let b = self.bytes(field)?;
        std::str::from_utf8(b).map_err(|e| self.err(format!("{field}: not UTF-8: {e}")))
    }

    /// Fails unless every byte was consumed.
    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        if self.remaining() != 0 {
            return Err(self.err(format!("{} unexpected trailing bytes", self.remaining())));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_precise_errors() {
        let mut w = Writer::default();
        w.u8(7);
        w.varint(300);
        w.zigzag(-5);
        w.str("héllo");
        w.f64(-0.0);
        w.seal_crc();
        let mut r = Reader::with_crc(&w.buf, "test").unwrap();
        assert_eq!(r.u8("a").unwrap(), 7);
        assert_eq!(r.varint("b").unwrap(), 300);
        assert_eq!(r.zigzag("c").unwrap(), -5);
        assert_eq!(r.str("d").unwrap(), "héllo");
        assert_eq!(r.f64("e").unwrap().to_bits(), (-0.0f64).to_bits());
        r.finish().unwrap();

        let mut bad = w.buf.clone();
        bad[1] ^= 1;
        let e = Reader::with_crc(&bad, "test").unwrap_err();
        assert!(e.to_string().contains("checksum mismatch"), "{e}");
        let e = Reader::new(&[0xff; 11], "test").varint("len").unwrap_err();
        assert!(e.to_string().contains("len"), "{e}");
        let e = Reader::new(&[200, 1], "test")
            .count("items", 8)
            .unwrap_err();
        assert!(e.to_string().contains("cannot fit"), "{e}");
    }
}
