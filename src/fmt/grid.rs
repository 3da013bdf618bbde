//! [`Grid`]: a table as headers, column alignment and plain-text cells, written out in
//! the syntax of each output (terminal, Markdown, HTML). Cells hold unescaped text; each
//! syntax escapes its own way, so no table is built twice.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, CellAlignment, ContentArrangement, Table};

use super::{html_escape, md_escape};

/// How a column's cells line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// One table, independent of syntax.
#[derive(Debug, Clone, Default)]
pub struct Grid {
    pub headers: Vec<String>,
    pub align: Vec<Align>,
    pub rows: Vec<Vec<String>>,
    /// Cells to draw attention to (a regression in a trend), by (row, column).
    pub flagged: Vec<(usize, usize)>,
}

impl Grid {
    /// A grid whose first `left` columns are left-aligned and the rest right-aligned.
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>, left: usize) -> Self {
        let headers: Vec<String> = headers.into_iter().map(Into::into).collect();
        let align = (0..headers.len()).map(|i| if i < left { Align::Left } else { Align::Right }).collect();
        Grid { headers, align, rows: Vec::new(), flagged: Vec::new() }
    }

    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    /// Adds a row and flags its cells at `flagged` columns.
    pub fn push_flagged(&mut self, row: Vec<String>, flagged: impl IntoIterator<Item = usize>) {
        let r = self.rows.len();
        self.flagged.extend(flagged.into_iter().map(|c| (r, c)));
        self.rows.push(row);
    }

    fn is_flagged(&self, r: usize, c: usize) -> bool {
        self.flagged.contains(&(r, c))
    }

    /// A box-drawn terminal table; `width` wraps it to a terminal, `None` never wraps.
    pub fn terminal(&self, width: Option<u16>) -> String {
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED);
        match width {
            Some(w) => {
                t.set_content_arrangement(ContentArrangement::Dynamic);
                t.set_width(w);
            }
            None => {
                t.set_content_arrangement(ContentArrangement::Disabled);
            }
        }
        t.set_header(self.headers.iter().map(|h| Cell::new(super::one_line(h))));
        for (r, row) in self.rows.iter().enumerate() {
            t.add_row(row.iter().enumerate().map(|(c, v)| {
                // a cell is one line: names and paths from servers and files cannot
                // break the table or drive the terminal
                let v = super::one_line(v);
                let text = if self.is_flagged(r, c) { format!("⚠ {v}") } else { v.into_owned() };
                let cell = Cell::new(text);
                if self.align.get(c) == Some(&Align::Right) { cell.set_alignment(CellAlignment::Right) } else { cell }
            }));
        }
        t.to_string()
    }

    /// A GitHub-flavoured Markdown table, every cell escaped.
    pub fn markdown(&self) -> String {
        let head: Vec<String> = self.headers.iter().map(|h| md_escape(h)).collect();
        let mut s = format!("| {} |\n|", head.join(" | "));
        for a in &self.align {
            s.push_str(if *a == Align::Right { "---:|" } else { "---|" });
        }
        s.push('\n');
        for (r, row) in self.rows.iter().enumerate() {
            let cells: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(c, v)| if self.is_flagged(r, c) { format!("⚠ {}", md_escape(v)) } else { md_escape(v) })
                .collect();
            s.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        s
    }

    /// An HTML table, every cell escaped; `sortable` tables sort by a click on a header.
    pub fn html(&self, sortable: bool) -> String {
        let class = |c: usize| if self.align.get(c) == Some(&Align::Left) { " class=\"l\"" } else { "" };
        let mut s = format!("<table{}><thead><tr>", if sortable { " class=\"sortable\"" } else { "" });
        for (c, h) in self.headers.iter().enumerate() {
            s.push_str(&format!("<th{}>{}</th>", class(c), html_escape(h)));
        }
        s.push_str("</tr></thead><tbody>");
        for (r, row) in self.rows.iter().enumerate() {
            s.push_str("<tr>");
            for (c, v) in row.iter().enumerate() {
                let text = html_escape(v);
                let text = if self.is_flagged(r, c) { format!("<span class=\"flag\">⚠ {text}</span>") } else { text };
                s.push_str(&format!("<td{}>{text}</td>", class(c)));
            }
            s.push_str("</tr>");
        }
        s.push_str("</tbody></table>");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Grid {
        let mut g = Grid::new(["Name", "Value"], 1);
        g.push(vec!["a|b".into(), "1".into()]);
        g.push_flagged(vec!["<c>".into(), "2".into()], [1]);
        g
    }

    #[test]
    fn one_grid_three_syntaxes() {
        let g = sample();
        assert_eq!(g.markdown(), "| Name | Value |\n|---|---:|\n| a\\|b | 1 |\n| &lt;c&gt; | ⚠ 2 |\n");
        let h = g.html(true);
        assert!(h.starts_with("<table class=\"sortable\"><thead><tr><th class=\"l\">Name</th><th>Value</th>"), "{h}");
        assert!(h.contains("<td class=\"l\">&lt;c&gt;</td><td><span class=\"flag\">⚠ 2</span></td>"), "{h}");
        let t = g.terminal(None);
        assert!(t.contains("a|b") && t.contains("⚠ 2"), "{t}");
    }
}
