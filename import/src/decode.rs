//! From bytes to text: UTF-8 (with or without BOM), UTF-16 LE/BE with BOM
//! (Excel's "Unicode text"), otherwise Windows-1252 with a warning.
use crate::threads::side_by_side;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Encoding {
    #[serde(rename = "utf-8")]
    Utf8,
    #[serde(rename = "utf-8-bom")]
    Utf8Bom,
    #[serde(rename = "utf-16le")]
    Utf16Le,
    #[serde(rename = "utf-16be")]
    Utf16Be,
    #[serde(rename = "windows-1252")]
    Windows1252,
}

impl Encoding {
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Utf8Bom => "utf-8-bom",
            Encoding::Utf16Le => "utf-16le",
            Encoding::Utf16Be => "utf-16be",
            Encoding::Windows1252 => "windows-1252",
        }
    }

    /// [`Encoding::encode`] of a file written in parts: `text` is the next part
    /// (whole characters), `first` whether it is the file's first, which alone
    /// carries the BOM.
    pub fn encode_part(self, text: &str, first: bool, out: &mut impl std::io::Write) -> std::io::Result<()> {
        match self {
            Encoding::Utf8 => out.write_all(text.as_bytes()),
            Encoding::Utf8Bom if !first => out.write_all(text.as_bytes()),
            _ if first => out.write_all(&self.encode(text)),
            Encoding::Utf16Le | Encoding::Utf16Be | Encoding::Utf8Bom => {
                // The BOM is the first two or three bytes of a whole encoding.
                let bom = if self == Encoding::Utf8Bom { 3 } else { 2 };
                out.write_all(&self.encode(text)[bom..])
            }
            Encoding::Windows1252 => out.write_all(&self.encode(text)),
        }
    }

    /// Writes `text` back in this encoding, BOM included, so that a results file
    /// opens in the admin's tools exactly as the file they uploaded.
    pub fn encode(self, text: &str) -> Vec<u8> {
        match self {
            Encoding::Utf8 => text.as_bytes().to_vec(),
            Encoding::Utf8Bom => [&[0xEF, 0xBB, 0xBF][..], text.as_bytes()].concat(),
            Encoding::Utf16Le => {
                let mut out = vec![0xFF, 0xFE];
                out.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
                out
            }
            Encoding::Utf16Be => {
                let mut out = vec![0xFE, 0xFF];
                out.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
                out
            }
            Encoding::Windows1252 => encoding_rs::WINDOWS_1252.encode(&fit_windows_1252(text)).0.into_owned(),
        }
    }
}

/// Windows-1252 has no `→` (Muster's messages use it) and no `�`; encoding_rs
/// would write them as HTML entities (`&#8594;`), which a spreadsheet shows as
/// they are. The arrow becomes `->`, anything else missing `?`.
fn fit_windows_1252(text: &str) -> Cow<'_, str> {
    const EXTRA: &str = "€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ";
    let fits = |c: char| (c as u32) < 0x100 || EXTRA.contains(c);
    if text.chars().all(fits) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            c if fits(c) => out.push(c),
            '→' => out.push_str("->"),
            _ => out.push('?'),
        }
    }
    Cow::Owned(out)
}

#[derive(Debug)]
pub struct Decoded<'a> {
    pub text: Cow<'a, str>,
    pub encoding: Encoding,
    /// UTF-16 that was not valid (unpaired surrogates) was repaired with U+FFFD.
    pub had_errors: bool,
}

pub fn decode(bytes: &[u8]) -> Decoded<'_> {
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return utf8_or_1252(rest, Encoding::Utf8Bom);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        let (text, had_errors) = encoding_rs::UTF_16LE.decode_without_bom_handling(rest);
        return Decoded { text, encoding: Encoding::Utf16Le, had_errors };
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        let (text, had_errors) = encoding_rs::UTF_16BE.decode_without_bom_handling(rest);
        return Decoded { text, encoding: Encoding::Utf16Be, had_errors };
    }
    utf8_or_1252(bytes, Encoding::Utf8)
}

fn utf8_or_1252(bytes: &[u8], utf8: Encoding) -> Decoded<'_> {
    match valid_utf8(bytes) {
        Some(text) => Decoded { text: Cow::Borrowed(text), encoding: utf8, had_errors: false },
        None => {
            // Windows-1252 maps every byte to a character, so nothing is lost or refused.
            let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes);
            Decoded { text, encoding: Encoding::Windows1252, had_errors: false }
        }
    }
}

/// The bytes as text if they are UTF-8. encoding_rs checks with SIMD (a 144 MB
/// file in 9 ms where the standard library's check takes 24 ms); natively, a
/// large text is checked in two halves side by side, as a pass over the whole
/// file is bound by memory more than by one core.
fn valid_utf8(bytes: &[u8]) -> Option<&str> {
    const HALVES_FROM: usize = 8 << 20;
    let whole = |bytes| encoding_rs::Encoding::utf8_valid_up_to(bytes) == bytes.len();
    // The second half starts at a character's first byte (not 10xxxxxx), so
    // the whole is UTF-8 exactly when both halves are.
    let split = (bytes.len() / 2..bytes.len().min(bytes.len() / 2 + 4)).find(|&i| bytes[i] & 0xC0 != 0x80);
    let valid = match split {
        Some(at) if bytes.len() >= HALVES_FROM && !cfg!(target_arch = "wasm32") => {
            let (first, second) = bytes.split_at(at);
            let (second, first) = side_by_side(|| whole(second), || whole(first));
            first && second
        }
        _ => whole(bytes),
    };
    // SAFETY: checked just above to be UTF-8.
    valid.then(|| unsafe { std::str::from_utf8_unchecked(bytes) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_each_encoding() {
        assert_eq!(decode(b"a,b").encoding, Encoding::Utf8);
        let bom = decode(b"\xEF\xBB\xBFuserId");
        assert_eq!((bom.encoding, bom.text.as_ref()), (Encoding::Utf8Bom, "userId"));
        let le = Encoding::Utf16Le.encode("userId\tZoë");
        let d = decode(&le);
        assert_eq!((d.encoding, d.text.as_ref()), (Encoding::Utf16Le, "userId\tZoë"));
        let be = Encoding::Utf16Be.encode("Zoë");
        assert_eq!(decode(&be).text, "Zoë");
        let latin = decode(b"Zo\xEB \x80");
        assert_eq!((latin.encoding, latin.text.as_ref()), (Encoding::Windows1252, "Zoë €"));
    }

    #[test]
    fn a_large_text_is_utf8_exactly_when_it_was_and_is_checked_to_its_last_byte() {
        let mut text = "Zoë Brontë,Łukasz,Nguyễn\r\n".repeat(400_000).into_bytes();
        assert!(text.len() > 8 << 20);
        assert_eq!(valid_utf8(&text).map(str::len), Some(text.len()));
        // A character cut in two by the middle, one after it, the last byte:
        // each is found in whichever half it falls.
        let middle = text.len() / 2;
        for at in [middle - 1, middle, middle + 1, text.len() - 1, 0] {
            let mut broken = text.clone();
            broken[at] = 0xC3;
            if let Some(next) = broken.get_mut(at + 1) {
                *next = b'a';
            }
            assert!(valid_utf8(&broken).is_none(), "{at}");
        }
        text[middle] = 0xFF;
        assert_eq!(decode(&text).encoding, Encoding::Windows1252);
    }

    #[test]
    fn windows_1252_output_has_no_html_entities() {
        let bytes = Encoding::Windows1252.encode("a (line 2) → b; “Zoë” €5 … 雪");
        assert_eq!(decode(&bytes).text, "a (line 2) -> b; “Zoë” €5 … ?");
    }

    #[test]
    fn encoding_round_trips() {
        for enc in [Encoding::Utf8, Encoding::Utf8Bom, Encoding::Utf16Le, Encoding::Utf16Be, Encoding::Windows1252] {
            let bytes = enc.encode("name,Zoë Brontë\r\n");
            let back = decode(&bytes);
            assert_eq!(back.text, "name,Zoë Brontë\r\n", "{enc:?}");
            // Plain ASCII in 1252 is indistinguishable from UTF-8, and reads as UTF-8.
            if enc != Encoding::Windows1252 {
                assert_eq!(back.encoding, enc);
            }
        }
    }
}
