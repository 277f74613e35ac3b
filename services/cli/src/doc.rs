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
