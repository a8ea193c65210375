//! One table type, three renderings: aligned text for the terminal, Markdown (`--format md`) and
//! HTML (report.html).

/// A titled table with optional notes under it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    /// Title.
    pub title: String,
    /// Column names.
    pub header: Vec<String>,
    /// Cells, row by row.
    pub rows: Vec<Vec<String>>,
    /// Lines printed after the table.
    pub notes: Vec<String>,
}

fn numeric(s: &str) -> bool {
    let t = s.trim_start_matches('$').trim_end_matches(['%', '!', 'x']);
    !t.is_empty() && t.parse::<f64>().is_ok()
}

/// `s` with thousands separators when it is a whole number of four digits or more
/// ("21088" -> "21,088"), or starts with one followed by a space ("8676 groq" -> "8,676 groq"),
/// else as it is.
fn thousands(s: &str) -> String {
    if let Some((head, rest)) = s.split_once(' ') {
        let h = thousands(head);
        return if h == head {
            s.to_string()
        } else {
            format!("{h} {rest}")
        };
    }
    let (sign, digits) = s.strip_prefix('-').map_or(("", s), |d| ("-", d));
    if digits.len() < 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return s.to_string();
    }
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    format!("{sign}{out}")
}

fn escape_md(s: &str) -> String {
    s.replace('|', "\\|")
}

/// Escapes text for an HTML text node (not for attribute values: quotes are left as they are).
pub fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

impl Table {
    /// A table with a title and column names.
    pub fn new(title: impl Into<String>, header: &[&str]) -> Table {
        Table {
            title: title.into(),
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Aligned plain text (numbers right-aligned).
    pub fn text(&self) -> String {
        let n = self.header.len();
        let mut w: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(n) {
                w[i] = w[i].max(c.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate().take(n) {
                if i > 0 {
                    s.push_str("  ");
                }
                let pad = w[i].saturating_sub(c.chars().count());
                if numeric(c) {
                    s.push_str(&" ".repeat(pad));
                    s.push_str(c);
                } else {
                    s.push_str(c);
                    if i + 1 < n {
                        s.push_str(&" ".repeat(pad));
                    }
                }
            }
            s.trim_end().to_string() + "\n"
        };
        let mut out = String::new();
        if !self.title.is_empty() {
            out.push_str(&self.title);
            out.push('\n');
        }
        out.push_str(&line(&self.header));
        for r in &self.rows {
            out.push_str(&line(r));
        }
        for note in &self.notes {
            out.push_str(note);
            out.push('\n');
        }
        out
    }

    /// A Markdown table under a `###` heading.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        if !self.title.is_empty() {
            out.push_str(&format!("### {}\n\n", self.title));
        }
        out.push_str(&format!(
            "| {} |\n",
            self.header
                .iter()
                .map(|h| escape_md(h))
                .collect::<Vec<_>>()
                .join(" | ")
        ));
        let align: Vec<&str> = (0..self.header.len())
            .map(|i| {
                if self
                    .rows
                    .iter()
                    .any(|r| r.get(i).is_some_and(|c| numeric(c)))
                {
                    "---:"
                } else {
                    "---"
                }
            })
            .collect();
        out.push('|');
        for a in &align {
            out.push_str(&format!(" {a} |"));
        }
        out.push('\n');
        for r in &self.rows {
            out.push_str(&format!(
                "| {} |\n",
                r.iter()
                    .map(|c| escape_md(c))
                    .collect::<Vec<_>>()
                    .join(" | ")
            ));
        }
        if !self.notes.is_empty() {
            out.push('\n');
            for n in &self.notes {
                out.push_str(&format!("{}\n", escape_md(n)));
            }
        }
        out.push('\n');
        out
    }

    /// An HTML table with its title and notes. Whole numbers in columns of dollars or tokens
    /// get thousands separators there (the text, Markdown and CSV forms keep plain digits).
    pub fn html(&self) -> String {
        let mut out = String::new();
        if !self.title.is_empty() {
            out.push_str(&format!("<h3>{}</h3>\n", escape_html(&self.title)));
        }
        out.push_str("<table>\n<thead><tr>");
        for h in &self.header {
            out.push_str(&format!("<th>{}</th>", escape_html(h)));
        }
        out.push_str("</tr></thead>\n<tbody>\n");
        let grouped: Vec<bool> = self
            .header
            .iter()
            .map(|h| h.contains('$') || h.contains("tokens"))
            .collect();
        for r in &self.rows {
            out.push_str("<tr>");
            for (i, c) in r.iter().enumerate() {
                let class = if numeric(c) { " class=\"num\"" } else { "" };
                let c = if grouped.get(i) == Some(&true) {
                    thousands(c)
                } else {
                    c.clone()
                };
                out.push_str(&format!("<td{class}>{}</td>", escape_html(&c)));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody>\n</table>\n");
        for n in &self.notes {
            out.push_str(&format!("<p>{}</p>\n", escape_html(n)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_three_ways() {
        let mut t = Table::new("T", &["name", "value"]);
        t.row(vec!["a|b".into(), "1.5".into()]);
        t.notes.push("note <x>".into());
        assert_eq!(t.text(), "T\nname  value\na|b     1.5\nnote <x>\n");
        let md = t.markdown();
        assert!(
            md.contains("| name | value |")
                && md.contains("| --- | ---: |")
                && md.contains("a\\|b"),
            "{md}"
        );
        let h = t.html();
        assert!(
            h.contains("<td class=\"num\">1.5</td>") && h.contains("note &lt;x&gt;"),
            "{h}"
        );
    }

    /// Money and token counts read with thousands separators in HTML, nowhere else.
    #[test]
    fn html_groups_thousands_in_dollar_and_token_columns() {
        let mut t = Table::new("", &["replicas", "$/month", "M tokens/month"]);
        t.row(vec!["1024".into(), "21088".into(), "1234567".into()]);
        t.row(vec!["2".into(), "-4736".into(), "0.5".into()]);
        let h = t.html();
        for cell in ["1024", "21,088", "1,234,567", "-4,736", "0.5"] {
            assert!(h.contains(&format!(">{cell}</td>")), "{cell}: {h}");
        }
        assert!(t.text().contains("21088") && !t.text().contains("21,088"));
        assert_eq!(thousands("100"), "100");
        assert_eq!(thousands("123456"), "123,456");
        assert_eq!(thousands("12a45"), "12a45");
        assert_eq!(
            thousands("8676 groq-llama-3.1-8b"),
            "8,676 groq-llama-3.1-8b"
        );
        assert_eq!(thousands("none listed"), "none listed");
    }
}
