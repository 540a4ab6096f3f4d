//! Text from outside (inputs, and later OSC's answers) made safe to show.

/// Quotes a non-secret input for an error message, escaping anything unprintable.
pub fn quoted(raw: &str) -> String {
    const SHOWN: usize = 80;
    let mut out = String::from("`");
    for (i, c) in raw.chars().enumerate() {
        if i == SHOWN {
            out.push('…');
            break;
        }
        out.extend(c.escape_debug());
    }
    out.push('`');
    out
}

pub(crate) fn describe_char(c: char) -> String {
    match c {
        '/' => "a slash".to_owned(),
        c if c.is_whitespace() => format!("whitespace (U+{:04X})", c as u32),
        c if c.is_control() => format!("a control character (U+{:04X})", c as u32),
        c if c.is_ascii() => format!("`{c}`"),
        c => format!("the non-ASCII character U+{:04X}", c as u32),
    }
}
