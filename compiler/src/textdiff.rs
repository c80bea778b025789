//! Line diffs in the unified format (`diff -u`, `git diff`), for
//! `egressc fmt --diff`: what formatting would change, reviewable before it
//! is applied.
//!
//! The edit script is a longest common subsequence of the lines, after the
//! common head and tail are set aside (formatting changes are local, so
//! the middle is small). A middle too large for the quadratic table (more
//! than [`MAX_CELLS`] line pairs) is shown as one replacement: still a
//! correct diff, only not a minimal one.

use std::fmt::Write as _;

/// The largest middle (old lines × new lines) diffed line by line.
pub const MAX_CELLS: usize = 4_000_000;

/// Lines of context around each change.
const CONTEXT: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Keep,
    Del,
    Add,
}

/// The unified diff from `old` to `new`, headed `--- NAME` and
/// `+++ NAME` (so `patch -p0` applies it); empty when the texts are equal.
pub fn unified(name: &str, old: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    let a: Vec<&str> = old.split_inclusive('\n').collect();
    let b: Vec<&str> = new.split_inclusive('\n').collect();
    let script = edit_script(&a, &b);
    let mut out = format!("--- {name}\n+++ {name}\n");
    // Positions in `script` of the changes, grouped into hunks whose
    // context windows touch.
    let changes: Vec<usize> = script
        .iter()
        .enumerate()
        .filter(|(_, (op, _))| *op != Op::Keep)
        .map(|(i, _)| i)
        .collect();
    let mut groups: Vec<(usize, usize)> = Vec::new();
    for &i in &changes {
        match groups.last_mut() {
            Some((_, end)) if i <= *end + 2 * CONTEXT + 1 => *end = i,
            _ => groups.push((i, i)),
        }
    }
    // Line numbers before each script position.
    let mut before = Vec::with_capacity(script.len() + 1);
    let (mut la, mut lb) = (0usize, 0usize);
    for (op, _) in &script {
        before.push((la, lb));
        match op {
            Op::Keep => {
                la += 1;
                lb += 1;
            }
            Op::Del => la += 1,
            Op::Add => lb += 1,
        }
    }
    before.push((la, lb));
    for (first, last) in groups {
        let start = first.saturating_sub(CONTEXT);
        let end = (last + CONTEXT + 1).min(script.len());
        let Some(hunk) = script.get(start..end) else {
            continue;
        };
        let (sa, sb) = before.get(start).copied().unwrap_or((0, 0));
        let na = hunk.iter().filter(|(op, _)| *op != Op::Add).count();
        let nb = hunk.iter().filter(|(op, _)| *op != Op::Del).count();
        // `diff -u` numbers an empty side by the line before it.
        let from = |s: usize, n: usize| if n == 0 { s } else { s + 1 };
        let _ = writeln!(out, "@@ -{},{na} +{},{nb} @@", from(sa, na), from(sb, nb));
        for (op, line) in hunk {
            out.push(match op {
                Op::Keep => ' ',
                Op::Del => '-',
                Op::Add => '+',
            });
            out.push_str(line);
            if !line.ends_with('\n') {
                out.push_str("\n\\ No newline at end of file\n");
            }
        }
    }
    out
}

/// A shortest edit script from `a` to `b` (deletions before additions in
/// each changed run).
fn edit_script<'t>(a: &[&'t str], b: &[&'t str]) -> Vec<(Op, &'t str)> {
    let head = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let tail = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take(a.len().min(b.len()) - head)
        .take_while(|(x, y)| x == y)
        .count();
    let (am, bm) = (
        a.get(head..a.len() - tail).unwrap_or_default(),
        b.get(head..b.len() - tail).unwrap_or_default(),
    );
    let mut script: Vec<(Op, &str)> = a.iter().take(head).map(|l| (Op::Keep, *l)).collect();
    if am.len().saturating_mul(bm.len()) > MAX_CELLS {
        script.extend(am.iter().map(|l| (Op::Del, *l)));
        script.extend(bm.iter().map(|l| (Op::Add, *l)));
    } else {
        middle(am, bm, &mut script);
    }
    script.extend(a.iter().skip(a.len() - tail).map(|l| (Op::Keep, *l)));
    script
}

/// The LCS table of the middle, then a walk from its top left.
fn middle<'t>(a: &[&'t str], b: &[&'t str], script: &mut Vec<(Op, &'t str)>) {
    let w = b.len() + 1;
    // lcs[i * w + j]: the LCS length of a[i..] and b[j..].
    let mut lcs = vec![0u32; (a.len() + 1) * w];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            let v = if a.get(i) == b.get(j) {
                lcs.get((i + 1) * w + j + 1).copied().unwrap_or(0) + 1
            } else {
                let down = lcs.get((i + 1) * w + j).copied().unwrap_or(0);
                let right = lcs.get(i * w + j + 1).copied().unwrap_or(0);
                down.max(right)
            };
            if let Some(cell) = lcs.get_mut(i * w + j) {
                *cell = v;
            }
        }
    }
    let at = |i: usize, j: usize| lcs.get(i * w + j).copied().unwrap_or(0);
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x == y => {
                script.push((Op::Keep, x));
                i += 1;
                j += 1;
            }
            (Some(x), Some(_)) if at(i + 1, j) >= at(i, j + 1) => {
                script.push((Op::Del, x));
                i += 1;
            }
            (_, Some(y)) => {
                script.push((Op::Add, y));
                j += 1;
            }
            (Some(x), None) => {
                script.push((Op::Del, x));
                i += 1;
            }
            (None, None) => break,
        }
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, reason = "test code")]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_have_no_diff() {
        assert_eq!(unified("a", "x\ny\n", "x\ny\n"), "");
    }

    #[test]
    fn a_change_in_the_middle_has_three_lines_of_context() {
        let old = "1\n2\n3\n4\nold\n6\n7\n8\n9\n";
        let new = "1\n2\n3\n4\nnew\n6\n7\n8\n9\n";
        assert_eq!(
            unified("p.egress", old, new),
            "--- p.egress\n+++ p.egress\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-old\n+new\n 6\n 7\n 8\n"
        );
    }

    #[test]
    fn distant_changes_make_two_hunks_and_near_ones_one() {
        let old: String = (1..=20).map(|i| format!("{i}\n")).collect();
        let two = old.replace("2\n", "two\n").replace("19\n", "nineteen\n");
        let d = unified("f", &old, &two);
        assert_eq!(d.matches("@@ -").count(), 2, "{d}");
        let near = old.replace("5\n", "five\n").replace("9\n", "nine\n");
        assert_eq!(unified("f", &old, &near).matches("@@ -").count(), 1);
    }

    #[test]
    fn insertions_deletions_and_a_missing_final_newline() {
        let d = unified("f", "a\nb\n", "a\nx\nb");
        assert_eq!(
            d,
            "--- f\n+++ f\n@@ -1,2 +1,3 @@\n a\n-b\n+x\n+b\n\\ No newline at end of file\n"
        );
        let d = unified("f", "", "a\n");
        assert_eq!(d, "--- f\n+++ f\n@@ -0,0 +1,1 @@\n+a\n");
    }

    #[test]
    fn applying_the_script_gives_the_new_text() {
        let old = "policy \"p\" {\ndefault deny\n  destination \"a\" port 80 http\n}\n";
        let new = "policy \"p\" {\n  default deny\n\n  destination \"a\" port 80 http\n}\n";
        let a: Vec<&str> = old.split_inclusive('\n').collect();
        let b: Vec<&str> = new.split_inclusive('\n').collect();
        let script = edit_script(&a, &b);
        let rebuilt: String = script
            .iter()
            .filter(|(op, _)| *op != Op::Del)
            .map(|(_, l)| *l)
            .collect();
        let original: String = script
            .iter()
            .filter(|(op, _)| *op != Op::Add)
            .map(|(_, l)| *l)
            .collect();
        assert_eq!((original.as_str(), rebuilt.as_str()), (old, new));
    }
}
