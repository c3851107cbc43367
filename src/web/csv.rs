//! CSV exports (RFC 4180): a header, one line per row, CRLF line ends, fields quoted when they
//! hold a comma, quote or line break. A field that a spreadsheet would run as a formula (`=`,
//! `+`, `-`, `@`, tab, CR first) is prefixed with `'` (OWASP "CSV injection"), so user text
//! exported by the operator cannot execute in their spreadsheet.

/// Builds one CSV document in memory.
pub struct CsvWriter {
    out: String,
}

impl CsvWriter {
    pub fn new(header: &[&str]) -> CsvWriter {
        let mut w = CsvWriter { out: String::with_capacity(4096) };
        w.row(header.iter().copied());
        w
    }

    pub fn row<'a>(&mut self, fields: impl IntoIterator<Item = &'a str>) {
        for (i, f) in fields.into_iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            push_field(&mut self.out, f);
        }
        self.out.push_str("\r\n");
    }

    pub fn into_string(self) -> String {
        self.out
    }

    /// The document as a download: `text/csv`, `attachment; filename=...`, never cached.
    pub fn into_response(self, filename: &str) -> rouille::Response {
        rouille::Response::from_data("text/csv; charset=utf-8", self.out)
            .with_unique_header("Content-Disposition", format!("attachment; filename=\"{filename}\""))
            .with_unique_header("Cache-Control", "no-store")
    }
}

fn push_field(out: &mut String, f: &str) {
    let formula = f.starts_with(['=', '+', '-', '@', '\t', '\r']);
    // Negative numbers are data, not formulas.
    let number = f.starts_with('-') && f[1..].chars().all(|c| c.is_ascii_digit() || c == '.') && f.len() > 1;
    let guarded = if formula && !number { format!("'{f}") } else { f.to_string() };
    if guarded.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&guarded.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(&guarded);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_escapes_and_defuses_formulas() {
        let mut w = CsvWriter::new(&["a", "b"]);
        w.row(["x,y", "say \"hi\""]);
        w.row(["=HYPERLINK(\"evil\")", "-12"]);
        w.row(["line\nbreak", "@SUM(A1)"]);
        assert_eq!(
            w.into_string(),
            "a,b\r\n\"x,y\",\"say \"\"hi\"\"\"\r\n\"'=HYPERLINK(\"\"evil\"\")\",-12\r\n\"line\nbreak\",'@SUM(A1)\r\n"
        );
    }
}
