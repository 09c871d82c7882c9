//! Showing payloads safely: printable ASCII as quoted text, anything else as hex, so a
//! dump never sends raw control bytes (escape sequences) to a terminal.

use std::fmt::Write;

/// Whether every byte is printable ASCII (space through `~`).
pub fn is_printable(bytes: &[u8]) -> bool {
    bytes.iter().all(|b| (0x20..=0x7e).contains(b))
}

/// Lower-case hex, two digits per byte.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// `"text"` (with `"` and `\` escaped) when printable, else `hex:` and the bytes in hex.
pub fn safe(bytes: &[u8]) -> String {
    if !is_printable(bytes) {
        return format!("hex:{}", hex(bytes));
    }
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for &b in bytes {
        if b == b'"' || b == b'\\' {
            out.push('\\');
        }
        out.push(char::from(b));
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_bytes_never_pass_through() {
        assert_eq!(safe(b"hi \"x\""), r#""hi \"x\"""#);
        assert_eq!(safe(b"\x1b[2J"), "hex:1b5b324a");
        assert_eq!(safe(b""), "\"\"");
        assert_eq!(hex(&[0, 255]), "00ff");
    }
}
