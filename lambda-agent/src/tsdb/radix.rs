//! Radix packing: `k` values below `R` stored as one number `Σ vⱼ·Rʲ` in
//! `⌈log₂(Rᵏ)⌉` bits, with `k` as large as fits 64 bits, so that `R` need
//! not be a power of two: 7 equally likely values cost 2.82 bits each
//! instead of 3, 160 values 7.33 bits instead of 8. A power-of-two `R` is
//! plain bit packing (the same bits, faster). Values are given as offsets
//! `≤ diff` (so `R = diff + 1`, which may be 2⁶⁴).

use super::bits::{BitReader, BitWriter};
use super::error::DecodeError;

/// How `R` values are grouped.
#[derive(Clone, Copy, Debug)]
struct Radix {
    r: u64,
    /// Values per group.
    k: usize,
    /// `Rᵏ − 1`, the largest group number.
    max_k: u64,
}

impl Radix {
    /// The grouping of values below `diff + 1`.
    fn new(diff: u64) -> Self {
        let r = diff.wrapping_add(1);
        if diff == 0 || r.is_power_of_two() || r == 0 || diff > u64::from(u32::MAX) {
            return Self {
                r,
                k: 1,
                max_k: diff,
            };
        }
        // The largest k with r^k < 2^64 (r is not a power of two).
        let mut k = (64.0 / (r as f64).log2()) as u32;
        while k > 1 && r.checked_pow(k).is_none() {
            k -= 1;
        }
        while r.checked_pow(k + 1).is_some() {
            k += 1;
        }
        Self {
            r,
            k: k as usize,
            max_k: r.checked_pow(k).map_or(diff, |p| p - 1),
        }
    }

    /// Bits of a group of `n ≤ k` values.
    fn group_bits(&self, n: usize) -> u32 {
        if n == self.k {
            return 64 - self.max_k.leading_zeros();
        }
        let max = self.r.saturating_pow(n as u32);
        64 - (max - 1).leading_zeros()
    }

    /// Bits of `len` values.
    fn bits(&self, len: usize) -> u64 {
        let full = (len / self.k) as u64;
        full * u64::from(self.group_bits(self.k)) + u64::from(self.group_bits(len % self.k))
    }

    /// True when values are written one by one in a fixed width.
    fn plain(&self) -> bool {
        self.k == 1 || self.r.is_power_of_two()
    }
}

/// Bits taken by `len` values below `diff + 1` (no header).
pub(crate) fn radix_bits(len: usize, diff: u64) -> u64 {
    Radix::new(diff).bits(len)
}

/// Writes offsets (each `≤ diff`), radix-packed.
pub(crate) fn write_radix(w: &mut BitWriter, offsets: &[u64], diff: u64) {
    let rad = Radix::new(diff);
    if diff == 0 {
        return;
    }
    if rad.plain() {
        let width = 64 - diff.leading_zeros();
        for &o in offsets {
            w.write(o, width);
        }
        return;
    }
    for group in offsets.chunks(rad.k) {
        let n = group.iter().fold(0u64, |acc, &o| acc * rad.r + o);
        w.write(n, rad.group_bits(group.len()));
    }
}

/// Division by a runtime constant through a multiplication (a hardware
/// division per digit would dominate decoding).
struct Divider {
    d: u64,
    /// `⌊(2⁶⁴ − 1) / d⌋`: the estimated quotient is at most 2 too small.
    m: u64,
}

impl Divider {
    fn new(d: u64) -> Self {
        Self { d, m: u64::MAX / d }
    }

    /// `(g / d, g % d)`.
    #[inline]
    fn div_rem(&self, g: u64) -> (u64, u64) {
        let mut q = ((u128::from(g) * u128::from(self.m)) >> 64) as u64;
        let mut rem = g - q * self.d;
        while rem >= self.d {
            q += 1;
            rem -= self.d;
        }
        (q, rem)
    }
}

/// Reads `len` offsets written by [`write_radix`], appending
/// `base + offset` to `out`.
pub(crate) fn read_radix(
    r: &mut BitReader<'_>,
    len: usize,
    diff: u64,
    base: i64,
    out: &mut Vec<i64>,
) -> Result<(), DecodeError> {
    let rad = Radix::new(diff);
    if diff == 0 {
        out.extend(std::iter::repeat_n(base, len));
        return Ok(());
    }
    if rad.bits(len) > r.remaining() {
        return Err(r.err(format!(
            "{len} packed values of range {diff} need more bits than the {} left",
            r.remaining()
        )));
    }
    if rad.plain() {
        let width = 64 - diff.leading_zeros();
        for _ in 0..len {
            let o = r.read(width)?;
            if o > diff {
                return Err(r.err(format!("packed value {o} exceeds its range {diff}")));
            }
            out.push(base.wrapping_add(o as i64));
        }
        return Ok(());
    }
    let div = Divider::new(rad.r);
    let mut left = len;
    while left > 0 {
        let n = left.min(rad.k);
        let mut g = r.read(rad.group_bits(n))?;
        let start = out.len();
        out.resize(start + n, base);
        // The first value is the most significant digit.
        for slot in out[start..].iter_mut().rev() {
            let (q, digit) = div.div_rem(g);
            *slot = base.wrapping_add(digit as i64);
            g = q;
        }
        if g != 0 {
            return Err(r.err(format!("packed group exceeds {n} values of range {diff}")));
        }
        left -= n;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn radix_packing_beats_bit_packing() {
        // 7 values: 22 per 62-bit group.
        assert_eq!(radix_bits(22, 6), 62);
        assert_eq!(radix_bits(60, 6), 62 + 62 + 45);
        assert_eq!(radix_bits(60, 7), 180);
        assert_eq!(radix_bits(60, 0), 0);
        assert_eq!(radix_bits(3, u64::MAX), 192);
        assert_eq!(radix_bits(1, u64::from(u32::MAX) + 5), 33);
    }

    #[test]
    fn values_outside_the_range_are_refused() {
        let mut w = BitWriter::default();
        w.write(127, 7); // R = 5: 3-value groups in 7 bits, 127 ≥ 125
        let bytes = w.to_bytes();
        let e = read_radix(
            &mut BitReader::new(&bytes, "test", 0),
            3,
            4,
            0,
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("exceeds"), "{e}");
        let e = read_radix(
            &mut BitReader::new(&bytes, "test", 0),
            30,
            4,
            0,
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("need more bits"), "{e}");
    }

    #[test]
    fn the_divider_divides() {
        for d in [2u64, 3, 7, 10, 160, 1_000_003, u64::from(u32::MAX) - 2] {
            let div = Divider::new(d);
            for g in [
                0u64,
                1,
                d - 1,
                d,
                d + 1,
                u64::MAX,
                u64::MAX - 1,
                u64::MAX / 3,
                1 << 63,
            ] {
                assert_eq!(div.div_rem(g), (g / d, g % d), "{g} / {d}");
            }
        }
    }

    proptest! {
        #[test]
        fn divisions_match(d in 2u64.., g in any::<u64>()) {
            prop_assert_eq!(Divider::new(d).div_rem(g), (g / d, g % d));
        }

        #[test]
        fn offsets_round_trip_in_radix_bits(
            diff in prop_oneof![0u64..300, any::<u64>(), Just(u64::MAX), Just(u64::from(u32::MAX))],
            seeds in prop::collection::vec(any::<u64>(), 0..100),
        ) {
            let offsets: Vec<u64> = seeds
                .iter()
                .map(|&s| if diff == u64::MAX { s } else { s % (diff + 1) })
                .collect();
            let mut w = BitWriter::default();
            write_radix(&mut w, &offsets, diff);
            prop_assert_eq!(w.bit_len(), radix_bits(offsets.len(), diff));
            let bytes = w.to_bytes();
            let mut back = Vec::new();
            read_radix(&mut BitReader::new(&bytes, "test", 0), offsets.len(), diff, 0, &mut back).unwrap();
            let back: Vec<u64> = back.iter().map(|&x| x as u64).collect();
            prop_assert_eq!(back, offsets);
        }

        #[test]
        fn random_bits_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64), len in 0usize..100, diff in any::<u64>()) {
            let _ = read_radix(&mut BitReader::new(&bytes, "test", 0), len, diff, 0, &mut Vec::new());
        }
    }
}
