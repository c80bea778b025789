//! The report's text tables: columns padded to their widest cell, numeric
//! columns right-aligned, the last column unpadded.

/// A text table: numeric columns right-aligned, the last column unpadded.
pub(super) struct Table {
    head: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(super) fn new(head: &[&str]) -> Self {
        Self {
            head: head.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    pub(super) fn row(&mut self, r: Vec<String>) {
        self.rows.push(r);
    }

    pub(super) fn render(&self) -> String {
        let n = self.head.len();
        let mut width = vec![0usize; n];
        for r in std::iter::once(&self.head).chain(&self.rows) {
            for (w, c) in width.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let numeric: Vec<bool> = (0..n)
            .map(|i| {
                self.rows.iter().all(|r| {
                    r.get(i)
                        .is_some_and(|c| c.bytes().all(|b| b.is_ascii_digit()))
                })
            })
            .collect();
        let mut s = String::new();
        for r in std::iter::once(&self.head).chain(&self.rows) {
            let mut line = String::from(" ");
            for (i, c) in r.iter().enumerate() {
                let w = width.get(i).copied().unwrap_or(0);
                let last = i + 1 == n;
                line.push(' ');
                if numeric.get(i).copied().unwrap_or(false) {
                    line.push_str(&format!("{c:>w$}"));
                } else if last {
                    line.push_str(c);
                } else {
                    line.push_str(&format!("{c:<w$}"));
                }
            }
            s.push_str(line.trim_end());
            s.push('\n');
        }
        s
    }
}
