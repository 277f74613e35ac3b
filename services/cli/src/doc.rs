//! A tiny document model so the table and markdown outputs share one structure: each report
//! is built once as blocks, then rendered either way.

/// One block of a report.
pub enum Block {
    /// A section title.
    Heading(String),
    /// A paragraph of text.
    Para(String),
    /// A table; `right` marks right-aligned (numeric) columns.
    Table {
        headers: Vec<String>,
        right: Vec<bool>,
        rows: Vec<Vec<String>>,
    },
    /// A bulleted list.
    List(Vec<String>),
    /// A chart: inline SVG in HTML, its caption alone in text and Markdown.
    Figure {
        /// What the chart shows.
        caption: String,
        /// The SVG document.
        svg: String,
    },
}

/// A report: a list of blocks.
#[derive(Default)]
pub struct Doc {
    blocks: Vec<Block>,
}

impl Doc {
    /// Appends a section title.
    pub fn heading(&mut self, text: impl Into<String>) {
        self.blocks.push(Block::Heading(text.into()));
    }

    /// Appends a paragraph.
    pub fn para(&mut self, text: impl Into<String>) {
        self.blocks.push(Block::Para(text.into()));
    }

    /// Appends a bulleted list; an empty list is skipped.
    pub fn list(&mut self, items: Vec<String>) {
        if !items.is_empty() {
            self.blocks.push(Block::List(items));
        }
    }

    /// Appends a chart (see [`Block::Figure`]).
    pub fn figure(&mut self, caption: impl Into<String>, svg: String) {
        self.blocks.push(Block::Figure {
            caption: caption.into(),
            svg,
        });
    }

    /// Appends a table; columns whose header starts with '>' are right-aligned (the '>' is dropped).
    pub fn table(&mut self, headers: &[&str], rows: Vec<Vec<String>>) {
        let right = headers.iter().map(|h| h.starts_with('>')).collect();
        let headers = headers
            .iter()
            .map(|h| h.trim_start_matches('>').to_string())
            .collect();
        self.blocks.push(Block::Table {
            headers,
            right,
            rows,
        });
    }

    /// Renders for a terminal: aligned columns.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for (i, block) in self.blocks.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            match block {
                Block::Heading(text) => {
                    out.push_str(text);
                    out.push('\n');
                    out.push_str(&"─".repeat(text.chars().count()));
                    out.push('\n');
                }
                Block::Para(text) => {
                    out.push_str(text);
                    out.push('\n');
                }
                Block::List(items) => {
                    for item in items {
                        out.push_str("  - ");
                        out.push_str(item);
                        out.push('\n');
                    }
                }
                Block::Figure { caption, .. } => {
                    out.push_str(&format!("[chart in the HTML report: {caption}]\n"));
                }
                Block::Table {
                    headers,
                    right,
                    rows,
                } => {
                    let widths: Vec<usize> = (0..headers.len())
                        .map(|c| {
                            rows.iter()
                                .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                                .chain([headers[c].chars().count()])
                                .max()
                                .unwrap_or(0)
                        })
                        .collect();
                    let line = |cells: &[String]| {
                        let mut text = String::from(" ");
                        for (c, width) in widths.iter().enumerate() {
                            let cell = cells.get(c).map_or("", String::as_str);
                            let pad = width - cell.chars().count();
                            text.push(' ');
                            if right[c] {
                                text.push_str(&" ".repeat(pad));
                                text.push_str(cell);
                            } else {
                                text.push_str(cell);
                                text.push_str(&" ".repeat(pad));
                            }
                            text.push(' ');
                        }
                        text.trim_end().to_string() + "\n"
                    };
                    out.push_str(&line(headers));
                    let rule: Vec<String> = widths.iter().map(|w| "─".repeat(*w)).collect();
                    out.push_str(&line(&rule));
                    for row in rows {
                        out.push_str(&line(row));
                    }
                }
            }
        }
        out
    }

    /// Renders as GitHub-flavoured markdown.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        for (i, block) in self.blocks.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            match block {
                Block::Heading(text) => {
                    let level = if i == 0 { "#" } else { "##" };
                    out.push_str(&format!("{level} {text}\n"));
                }
                Block::Para(text) => {
                    out.push_str(text);
                    out.push('\n');
                }
                Block::List(items) => {
                    for item in items {
                        out.push_str(&format!("- {item}\n"));
                    }
                }
                Block::Figure { caption, .. } => {
                    out.push_str(&format!("*Chart in the HTML report: {caption}.*\n"));
                }
                Block::Table {
                    headers,
                    right,
                    rows,
                } => {
                    let escape = |s: &String| s.replace('|', "\\|");
                    out.push_str(&format!(
                        "| {} |\n",
                        headers.iter().map(escape).collect::<Vec<_>>().join(" | ")
                    ));
                    out.push_str(&format!(
                        "|{}|\n",
                        right
                            .iter()
                            .map(|r| if *r { "---:" } else { "---" })
                            .collect::<Vec<_>>()
                            .join("|")
                    ));
                    for row in rows {
                        out.push_str(&format!(
                            "| {} |\n",
                            row.iter().map(escape).collect::<Vec<_>>().join(" | ")
                        ));
                    }
                }
            }
        }
        out
    }
}

/// Escapes text for HTML.
fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl Doc {
    /// Renders as an HTML fragment (headings, paragraphs, lists, tables and inline SVG charts);
    /// the first heading is `<h1>`, the others `<h2>`.
    pub fn to_html(&self) -> String {
        let mut out = String::new();
        for (i, block) in self.blocks.iter().enumerate() {
            match block {
                Block::Heading(text) => {
                    let tag = if i == 0 { "h1" } else { "h2" };
                    out.push_str(&format!("<{tag}>{}</{tag}>\n", html_escape(text)));
                }
                Block::Para(text) => {
                    out.push_str(&format!("<p>{}</p>\n", html_escape(text)));
                }
                Block::List(items) => {
                    out.push_str("<ul>\n");
                    for item in items {
                        out.push_str(&format!("<li>{}</li>\n", html_escape(item)));
                    }
                    out.push_str("</ul>\n");
                }
                Block::Table {
                    headers,
                    right,
                    rows,
                } => {
                    let cell = |tag: &str, c: usize, text: &str| {
                        if right.get(c).copied().unwrap_or(false) {
                            format!("<{tag} class=\"num\">{}</{tag}>", html_escape(text))
                        } else {
                            format!("<{tag}>{}</{tag}>", html_escape(text))
                        }
                    };
                    out.push_str("<div class=\"table\"><table>\n<thead><tr>");
                    for (c, header) in headers.iter().enumerate() {
                        out.push_str(&cell("th", c, header));
                    }
                    out.push_str("</tr></thead>\n<tbody>\n");
                    for row in rows {
                        out.push_str("<tr>");
                        for (c, text) in row.iter().enumerate() {
                            out.push_str(&cell("td", c, text));
                        }
                        out.push_str("</tr>\n");
                    }
                    out.push_str("</tbody></table></div>\n");
                }
                Block::Figure { caption, svg } => {
                    out.push_str(&format!(
                        "<figure>\n{}\n<figcaption>{}</figcaption>\n</figure>\n",
                        svg.trim_end(),
                        html_escape(caption)
                    ));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_text_and_keeps_charts_inline() {
        let mut doc = Doc::default();
        doc.heading("A <b>");
        doc.table(&["what", ">usd"], vec![vec!["x & y".into(), "$1".into()]]);
        doc.figure("cost", "<svg><rect/></svg>".into());
        let html = doc.to_html();
        assert!(html.contains("<h1>A &lt;b&gt;</h1>"), "{html}");
        assert!(
            html.contains("<td>x &amp; y</td><td class=\"num\">$1</td>"),
            "{html}"
        );
        assert!(html.contains("<figure>\n<svg><rect/></svg>\n<figcaption>cost</figcaption>"));
        assert!(
            doc.to_markdown()
                .contains("*Chart in the HTML report: cost.*")
        );
    }
}
