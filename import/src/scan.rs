//! One look at a line's bytes: where its delimiters are, and whether it may
//! hold a control character (which every text field refuses). Sixteen bytes at
//! a time with SSE2 on x86_64 (part of every x86_64 processor) and with simd128
//! in WebAssembly (the front end is built with it), eight at a time with plain
//! integer arithmetic elsewhere. Reading a record this
//! way spares each of its cells a search for control characters of its own.

/// The bytes that make a text field's value refused for holding a control
/// character: C0 and DEL, and 0xC2, the first byte of every C1 character in
/// UTF-8 (a few other characters start with it too: those cells are checked).
#[inline]
fn is_control_byte(b: u8) -> bool {
    b < 0x20 || b == 0x7f || b == 0xc2
}

/// Pushes the cells of `line` (cut at each `delimiter`) onto `cells` as byte
/// ranges, and returns true when a byte other than a delimiter may start a
/// control character.
pub(crate) fn cut(line: &[u8], delimiter: u8, cells: &mut Vec<(usize, usize)>) -> bool {
    #[cfg(target_arch = "x86_64")]
    return sse2::cut(line, delimiter, cells);
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return simd128::cut(line, delimiter, cells);
    #[cfg(not(any(target_arch = "x86_64", all(target_arch = "wasm32", target_feature = "simd128"))))]
    return swar::cut(line, delimiter, cells);
}

/// Whether `bytes` may hold a control character: one value, or cells with no
/// delimiter between them (as csv_core writes a quoted record's).
pub(crate) fn may_hold_control(bytes: &[u8]) -> bool {
    // Without an early exit the loop compiles to SIMD where the target has it.
    bytes.iter().fold(false, |found, &b| found | is_control_byte(b))
}

/// The cut of a line by looking at every byte: what both fast ways must give.
#[cfg(test)]
fn cut_bytewise(line: &[u8], delimiter: u8, cells: &mut Vec<(usize, usize)>) -> bool {
    let mut start = 0;
    for (at, &b) in line.iter().enumerate() {
        if b == delimiter {
            cells.push((start, at));
            start = at + 1;
        }
    }
    cells.push((start, line.len()));
    line.iter().any(|&b| b != delimiter && is_control_byte(b))
}

#[cfg_attr(any(target_arch = "x86_64", all(target_arch = "wasm32", target_feature = "simd128")), allow(dead_code))]
mod swar {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;

    /// The top bit of each byte of `x` that is 0, and of no other: the sum
    /// cannot carry into the next byte.
    #[inline]
    fn zero_bytes(x: u64) -> u64 {
        !(((x & LOW7) + LOW7) | x | LOW7)
    }

    /// The top bit of each byte below 0x20, and of no other.
    #[inline]
    fn low_bytes(x: u64) -> u64 {
        !(((x & LOW7) + ONES * 0x60) | x) & HIGH
    }

    pub(super) fn cut(line: &[u8], delimiter: u8, cells: &mut Vec<(usize, usize)>) -> bool {
        let mut start = 0;
        let mut control = 0;
        let mut chunks = line.chunks_exact(8);
        let mut base = 0;
        for chunk in &mut chunks {
            let x = u64::from_le_bytes(chunk.try_into().expect("a chunk of 8"));
            let mut found = zero_bytes(x ^ (ONES * u64::from(delimiter)));
            control |= (low_bytes(x) | zero_bytes(x ^ (ONES * 0x7f)) | zero_bytes(x ^ (ONES * 0xc2))) & !found;
            while found != 0 {
                let at = base + (found.trailing_zeros() / 8) as usize;
                cells.push((start, at));
                start = at + 1;
                found &= found - 1;
            }
            base += 8;
        }
        let mut rest_control = false;
        for (i, &b) in chunks.remainder().iter().enumerate() {
            if b == delimiter {
                cells.push((start, base + i));
                start = base + i + 1;
            } else {
                rest_control |= super::is_control_byte(b);
            }
        }
        cells.push((start, line.len()));
        control != 0 || rest_control
    }
}

/// The sixteen-bytes-at-a-time cut that both SIMD ways share (unused where
/// neither is built).
#[cfg_attr(not(any(target_arch = "x86_64", all(target_arch = "wasm32", target_feature = "simd128"))), allow(dead_code))]
mod blocks {
    /// The cut of a line sixteen bytes at a time, for both SIMD ways: `masks`
    /// gives a block's delimiters and its bytes that may start a control character,
    /// one bit a byte. The bytes after the last whole block are read in the block
    /// of the line's last sixteen (or, in a shorter line, padded with bytes that
    /// are neither), the others left out by `valid`.
    #[inline(always)]
    pub(super) fn cut_in_blocks(
        line: &[u8],
        cells: &mut Vec<(usize, usize)>,
        masks: impl Fn(&[u8; 16]) -> (u32, u32),
    ) -> bool {
        // A line has at most one cell more than it has bytes. The cells of a line
        // of usual length are written into room reserved for that many:
        // `Vec::push`, with its growth path, kept the vector's length in memory and
        // spilled the loop's registers (the cut took twice as long). A long line's
        // are pushed, so that room is never reserved for many times its bytes (a
        // cell takes sixteen, eight in WebAssembly).
        if line.len() >= LONG_LINE {
            return cells_in_blocks(line, masks, |cell| cells.push(cell));
        }
        cells.reserve(line.len() + 1);
        let filled = cells.len();
        let room = &mut cells.spare_capacity_mut()[..line.len() + 1];
        let mut written = 0;
        let control = cells_in_blocks(line, masks, |cell| {
            room[written].write(cell);
            written += 1;
        });
        // SAFETY: the `written` slots after the first `filled` were each written
        // above (`room` is those slots, and every write is checked to be in it).
        unsafe { cells.set_len(filled + written) };
        control
    }

    /// A line this long or longer has its cells pushed one at a time.
    pub(super) const LONG_LINE: usize = 4096;

    /// Gives each cell of `line` to `cell` (see [`cut_in_blocks`]).
    #[inline(always)]
    fn cells_in_blocks(
        line: &[u8],
        masks: impl Fn(&[u8; 16]) -> (u32, u32),
        mut cell: impl FnMut((usize, usize)),
    ) -> bool {
        let mut start = 0;
        let mut control = 0u32;
        let mut block = |bytes: &[u8; 16], base: usize, valid: u32| {
            let (delimiters, controls) = masks(bytes);
            let delimiters = delimiters & valid;
            control |= controls & valid & !delimiters;
            let mut found = delimiters;
            while found != 0 {
                let at = base + found.trailing_zeros() as usize;
                cell((start, at));
                start = at + 1;
                found &= found - 1;
            }
        };
        let mut chunks = line.chunks_exact(16);
        let mut base = 0;
        for chunk in &mut chunks {
            block(chunk.try_into().expect("a chunk of 16"), base, 0xffff);
            base += 16;
        }
        let rest = chunks.remainder().len();
        if rest > 0 && line.len() >= 16 {
            // The last sixteen bytes, of which only the `rest` not looked at yet
            // count: a copy into a padded block, read back at once, stalled on
            // the store of the copy for a tenth of the cut's time.
            let last = &line[line.len() - 16..];
            block(last.try_into().expect("the last 16"), line.len() - 16, 0xffff & !((1 << (16 - rest)) - 1));
        } else if rest > 0 {
            let mut padded = [b'a'; 16];
            padded[..rest].copy_from_slice(chunks.remainder());
            block(&padded, base, (1 << rest) - 1);
        }
        cell((start, line.len()));
        control != 0
    }
}

#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };

    pub(super) fn cut(line: &[u8], delimiter: u8, cells: &mut Vec<(usize, usize)>) -> bool {
        // SAFETY: SSE2 is part of the x86_64 baseline, so its instructions are
        // always there; `_mm_loadu_si128` reads the 16 bytes of `bytes` at any alignment.
        super::blocks::cut_in_blocks(line, cells, |bytes| unsafe {
            let x = _mm_loadu_si128(bytes.as_ptr().cast());
            let delimiters = _mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8(delimiter as i8))) as u32;
            // x <= 0x1f exactly when min(x, 0x1f) == x (bytes compared unsigned).
            let low = _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x1f)), x);
            let del = _mm_cmpeq_epi8(x, _mm_set1_epi8(0x7f));
            let c1 = _mm_cmpeq_epi8(x, _mm_set1_epi8(0xc2_u8 as i8));
            (delimiters, _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(low, del), c1)) as u32)
        })
    }
}

/// The SSE2 way in WebAssembly's SIMD: the same masks. Not run by `cargo test`
/// (natively); the end-to-end test that compares the browser's verdicts with
/// the server's runs it on lines with delimiters and control characters in
/// every position of a block.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128 {
    use core::arch::wasm32::{u8x16_bitmask, u8x16_eq, u8x16_lt, u8x16_splat, v128_load, v128_or};

    pub(super) fn cut(line: &[u8], delimiter: u8, cells: &mut Vec<(usize, usize)>) -> bool {
        super::blocks::cut_in_blocks(line, cells, |bytes| {
            // SAFETY: a load of the 16 bytes of `bytes`; WebAssembly loads need no alignment.
            let x = unsafe { v128_load(bytes.as_ptr().cast()) };
            let delimiters = u32::from(u8x16_bitmask(u8x16_eq(x, u8x16_splat(delimiter))));
            let low = u8x16_lt(x, u8x16_splat(0x20));
            let del = u8x16_eq(x, u8x16_splat(0x7f));
            let c1 = u8x16_eq(x, u8x16_splat(0xc2));
            (delimiters, u32::from(u8x16_bitmask(v128_or(v128_or(low, del), c1))))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::blocks::LONG_LINE;
    use super::*;
    use proptest::prelude::*;

    type Cut = fn(&[u8], u8, &mut Vec<(usize, usize)>) -> bool;

    fn both(cut: Cut, line: &[u8], d: u8) -> (Vec<(usize, usize)>, bool) {
        let mut cells = Vec::new();
        let control = cut(line, d, &mut cells);
        (cells, control)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

        #[test]
        fn each_way_cuts_as_a_look_at_every_byte_does(
            line in proptest::collection::vec(
                proptest::sample::select(vec![b'a', b',', b';', b'\t', 0x1f, 0x20, 0x7f, 0x80, 0xc2, 0xc3, 0xff]),
                0..70),
            delimiter in proptest::sample::select(vec![b',', b';', b'\t']),
        ) {
            let expected = both(cut_bytewise, &line, delimiter);
            prop_assert_eq!(both(swar::cut, &line, delimiter), expected.clone());
            #[cfg(target_arch = "x86_64")]
            prop_assert_eq!(both(sse2::cut, &line, delimiter), expected.clone());
            let no_delimiters: Vec<u8> = line.iter().copied().filter(|&b| b != delimiter).collect();
            prop_assert_eq!(may_hold_control(&no_delimiters), expected.1);
        }
    }

    #[test]
    fn long_lines_are_cut_as_short_ones_are() {
        // Around the length from which cells are pushed one at a time, with
        // delimiters at every position of a block (every 7th byte, and every
        // 61st), and a control character in the middle, at the end or nowhere.
        for len in [LONG_LINE - 17, LONG_LINE - 1, LONG_LINE, LONG_LINE + 5, 3 * LONG_LINE + 7] {
            for control_at in [None, Some(len / 2), Some(len - 1)] {
                let mut line: Vec<u8> = (0..len).map(|i| if i % 7 == 3 || i % 61 == 0 { b',' } else { b'a' }).collect();
                if let Some(at) = control_at {
                    line[at] = 0x7f;
                }
                let mut cells = vec![(9, 9)];
                let control = cut(&line, b',', &mut cells);
                let expected = both(cut_bytewise, &line, b',');
                assert_eq!((cells[1..].to_vec(), control), expected, "{len} bytes");
                assert_eq!(cells[0], (9, 9), "cells already there are kept");
            }
        }
    }

    #[test]
    fn a_tab_is_a_control_character_except_where_it_is_the_delimiter() {
        let line = b"pat\tZo\xc3\xab\tx";
        assert!(!both(cut, line, b'\t').1);
        assert!(both(cut, line, b',').1);
        assert!(both(cut, b"a,b\x7f", b',').1);
        assert!(both(cut, b"a,\xc2\x85", b',').1, "NEL, a C1 control");
    }
}
