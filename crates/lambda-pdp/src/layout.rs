//! How an object's bytes become blocks of sectors.
//!
//! A sector is 31 bytes read as a little-endian integer: always below
//! 2^248 < r, so the map from bytes to scalars is injective. A block is `s`
//! consecutive sectors (31·s bytes); the last block is zero-padded, which is
//! unambiguous because the object's length is part of the signed metadata.

use bls12_381::Scalar;

use crate::error::PdpError;

/// Bytes per sector.
pub const SECTOR_BYTES: usize = 31;
/// Largest number of sectors per block.
pub const MAX_SECTORS: u32 = 1024;

/// The block layout of one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    object_len: u64,
    sectors: u32,
}

impl Layout {
    /// The layout of an object of `object_len` bytes in blocks of `sectors`
    /// sectors; refuses an empty object or a sector count outside
    /// 1..=[`MAX_SECTORS`].
    pub fn new(object_len: u64, sectors: u32) -> Result<Self, PdpError> {
        if object_len == 0 {
            return Err(PdpError::EmptyObject);
        }
        if sectors == 0 || sectors > MAX_SECTORS {
            return Err(PdpError::InvalidParameter(format!(
                "sectors per block is {sectors}, must be 1 ..= {MAX_SECTORS}"
            )));
        }
        Ok(Self {
            object_len,
            sectors,
        })
    }

    /// Object length in bytes.
    pub fn object_len(&self) -> u64 {
        self.object_len
    }

    /// Sectors per block.
    pub fn sectors(&self) -> usize {
        self.sectors as usize
    }

    /// Bytes per (full) block: 31·s.
    pub fn block_bytes(&self) -> usize {
        SECTOR_BYTES * self.sectors as usize
    }

    /// Number of blocks n.
    pub fn blocks(&self) -> u64 {
        self.object_len.div_ceil(self.block_bytes() as u64)
    }

    /// The byte range of block `index` in the object, or an error if the
    /// index is past the last block.
    pub fn block_range(&self, index: u64) -> Result<std::ops::Range<u64>, PdpError> {
        let blocks = self.blocks();
        if index >= blocks {
            return Err(PdpError::IndexOutOfRange { index, blocks });
        }
        let start = index * self.block_bytes() as u64;
        let end = (start + self.block_bytes() as u64).min(self.object_len);
        Ok(start..end)
    }

    /// The exact length block `index` must have.
    pub fn block_len(&self, index: u64) -> Result<usize, PdpError> {
        let r = self.block_range(index)?;
        Ok((r.end - r.start) as usize)
    }

    /// Checks that `block` has the length of block `index`.
    pub fn check_block(&self, index: u64, block: &[u8]) -> Result<(), PdpError> {
        let expected = self.block_len(index)?;
        if block.len() != expected {
            return Err(PdpError::BlockLength {
                index,
                expected,
                got: block.len(),
            });
        }
        Ok(())
    }
}

/// The sectors of a block as scalars, zero-padded to `sectors`.
pub fn sector_scalars(block: &[u8], sectors: usize) -> Vec<Scalar> {
    let mut out: Vec<Scalar> = block.chunks(SECTOR_BYTES).map(sector_scalar).collect();
    out.resize(sectors, Scalar::zero());
    out
}

/// One sector (at most 31 bytes, little-endian) as a scalar.
pub fn sector_scalar(chunk: &[u8]) -> Scalar {
    Scalar::from_raw(sector_limbs(chunk))
}

/// One sector (at most 31 bytes, little-endian) as four 64-bit limbs.
pub fn sector_limbs(chunk: &[u8]) -> [u64; 4] {
    let mut bytes = [0u8; 32];
    let n = chunk.len().min(SECTOR_BYTES);
    bytes[..n].copy_from_slice(&chunk[..n]);
    let mut limbs = [0u64; 4];
    for (limb, c) in limbs.iter_mut().zip(bytes.chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(c);
        *limb = u64::from_le_bytes(b);
    }
    limbs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_and_ranges() {
        let l = Layout::new(100, 2).unwrap();
        assert_eq!(l.block_bytes(), 62);
        assert_eq!(l.blocks(), 2);
        assert_eq!(l.block_range(0).unwrap(), 0..62);
        assert_eq!(l.block_range(1).unwrap(), 62..100);
        assert_eq!(l.block_len(1).unwrap(), 38);
        assert_eq!(
            l.block_range(2),
            Err(PdpError::IndexOutOfRange {
                index: 2,
                blocks: 2
            })
        );
        assert_eq!(
            l.check_block(0, &[0; 61]),
            Err(PdpError::BlockLength {
                index: 0,
                expected: 62,
                got: 61
            })
        );
        assert_eq!(Layout::new(0, 1), Err(PdpError::EmptyObject));
        assert!(Layout::new(1, 0).is_err());
        assert!(Layout::new(1, MAX_SECTORS + 1).is_err());
        assert_eq!(Layout::new(62, 2).unwrap().blocks(), 1);
    }

    #[test]
    fn sectors_are_little_endian_and_padded() {
        let block = [
            1u8, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 5,
        ];
        let s = sector_scalars(&block, 3);
        assert_eq!(s[0], Scalar::from(0x0201u64));
        assert_eq!(s[1], Scalar::from(5u64));
        assert_eq!(s[2], Scalar::zero());
        let max = sector_scalar(&[0xff; 31]);
        assert_eq!(max + Scalar::one(), Scalar::from_raw([0, 0, 0, 1 << 56]));
    }
}
