//! A policy: `policy "name" { … }` and its settings.

use super::{CodeAs, ITEM_KEYWORDS, P, Parser, unclosed};
use crate::ast::*;
use crate::diag::{Diagnostic, did_you_mean};
use crate::lex::Kind;
use crate::source::{Span, Spanned};

/// The settings: `KEY VALUE` items of a policy.
const SETTINGS: [&str; 4] = ["mode", "default", "log", "require"];

/// `default:deny` written as one word: the setting and its value.
fn glued_setting(word: &str) -> Option<(&'static str, &str)> {
    let (key, value) = word.split_once(':')?;
    let key = SETTINGS.iter().copied().find(|k| *k == key)?;
    let is_name = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    is_name.then_some((key, value))
}

impl Parser<'_, '_> {
    /// `policy "name" { … }`: the name, the `{`, then the items up to `}`.
    pub(super) fn policy(&mut self) -> P<Policy> {
        let start = self.bump().span;
        let name = match self.string("a policy name") {
            Ok(n) => n,
            Err(()) => {
                self.recover(&["policy"]);
                return Err(());
            }
        };
        let open = self.policy_open(&name)?;
        let mut items = Vec::new();
        loop {
            let t = self.peek();
            match t.kind {
                Kind::RBrace => {
                    let close = self.bump().span;
                    return Ok(Policy {
                        span: start.to(close),
                        name,
                        items,
                        close,
                    });
                }
                Kind::Eof => {
                    let last = self.prev_span();
                    self.error(unclosed(
                        open,
                        format!("policy \"{}\" is not closed", name.value),
                        last,
                        "the file ends after this",
                        "add `}` after the policy's last item",
                    ));
                    return Ok(Policy {
                        span: start.to(t.span),
                        name,
                        items,
                        close: t.span,
                    });
                }
                Kind::Ident if t.text == "policy" && t.line_start => {
                    // The next policy starts: this one lacks its `}`.
                    self.error(unclosed(
                        open,
                        format!("policy \"{}\" is not closed", name.value),
                        t.span,
                        "the next policy starts here",
                        "add `}` before the next policy",
                    ));
                    return Ok(Policy {
                        span: start.to(self.prev_span()),
                        name,
                        items,
                        close: self.prev_span(),
                    });
                }
                _ => self.policy_item(&mut items),
            }
        }
    }

    /// The policy's `{` (its span), reporting a missing one (E0201); a
    /// forgotten `{` before the first item is read as if it were there.
    fn policy_open(&mut self, name: &Spanned<String>) -> P<Span> {
        let open = self.peek().span;
        if self.at(Kind::LBrace) {
            self.bump();
        } else if self.peek().kind == Kind::Ident && ITEM_KEYWORDS.contains(&self.peek().text) {
            // `policy "p"` and then its items: the `{` was forgotten. Say so
            // and read the items as if it were there.
            let d = self.unexpected("`{`");
            self.error(
                d.label("expected `{` before the policy's first item")
                    .with_label(name.span, "after this name")
                    .help(format!("write policy \"{}\" {{", name.value)),
            );
        } else {
            let d = self.unexpected("`{`");
            self.error(d);
            self.recover(&ITEM_KEYWORDS);
            if !self.at(Kind::LBrace) {
                return Err(());
            }
            self.bump();
        }
        Ok(open)
    }

    /// One policy item (a destination, test or setting) added to `items`,
    /// or an error (E0202) and recovery to the next item.
    fn policy_item(&mut self, items: &mut Vec<Item>) {
        let t = self.peek();
        match t.kind {
            Kind::Ident if t.text == "destination" => match self.destination() {
                Ok(d) => items.push(Item::Destination(d)),
                Err(()) => self.recover(&ITEM_KEYWORDS),
            },
            Kind::Ident if t.text == "test" => match self.test() {
                Ok(x) => items.push(Item::Test(x)),
                Err(()) => self.recover(&ITEM_KEYWORDS),
            },
            Kind::Ident if SETTINGS.contains(&t.text) => {
                if let Some(setting) = self.setting(t.text) {
                    items.push(Item::Setting(setting));
                }
            }
            Kind::Word if self.colon_keyword(&ITEM_KEYWORDS).is_some() => {
                // `default: deny`, `destination: "x"`: say so, then read
                // the item as if the colon were not there.
                let kw = self.colon_keyword(&ITEM_KEYWORDS).unwrap_or("default");
                self.colon_error(kw);
                match kw {
                    "destination" => match self.destination() {
                        Ok(d) => items.push(Item::Destination(d)),
                        Err(()) => self.recover(&ITEM_KEYWORDS),
                    },
                    "test" => match self.test() {
                        Ok(x) => items.push(Item::Test(x)),
                        Err(()) => self.recover(&ITEM_KEYWORDS),
                    },
                    _ => {
                        if let Some(setting) = self.setting(kw) {
                            items.push(Item::Setting(setting));
                        }
                    }
                }
            }
            Kind::Word if glued_setting(t.text).is_some() => {
                // `default:deny`, one word.
                let (key, value) = glued_setting(t.text).unwrap_or_default();
                self.bump();
                self.error(
                    Diagnostic::error("E0201", t.span, format!("`{key}` takes no colon"))
                        .label("remove the `:`")
                        .help(format!("write `{key} {value}`"))
                        .note("policy files are not YAML: a keyword is followed by its value, without `:`"),
                );
                items.push(Item::Setting(Setting {
                    span: t.span,
                    key: Spanned::new(key.to_owned(), t.span),
                    value: Spanned::new(value.to_owned(), t.span),
                }));
            }
            Kind::Ident => {
                let mut d =
                    Diagnostic::error("E0202", t.span, format!("unknown policy item `{}`", t.text))
                        .label("expected mode, default, log, require, destination or test")
                        .maybe_help(did_you_mean(t.text, &ITEM_KEYWORDS));
                if matches!(t.text, "allow" | "deny") {
                    d = d.help(format!("rules go inside a destination's block: destination \"example.com\" port 80 http {{ {} ... }}", t.text));
                }
                self.error(d);
                self.bump();
                self.recover(&ITEM_KEYWORDS);
            }
            _ => {
                let d = self.unexpected("a setting, `destination` or `test`");
                self.error(d.code_as("E0202"));
                self.bump();
                self.recover(&ITEM_KEYWORDS);
            }
        }
    }

    /// A setting, `KEY VALUE`: a quoted value is reported and kept, a
    /// missing one reported (E0201) with recovery.
    fn setting(&mut self, name: &str) -> Option<Setting> {
        let key = self.bump();
        let v = self.peek();
        if v.kind == Kind::Ident && !v.line_start {
            self.bump();
            Some(Setting {
                span: key.span.to(v.span),
                key: Spanned::new(name.to_owned(), key.span),
                value: Spanned::new(v.text.to_owned(), v.span),
            })
        } else if v.kind == Kind::Str && !v.line_start {
            self.bump();
            let value = String::from_utf8_lossy(&v.value()).into_owned();
            self.error(
                Diagnostic::error(
                    "E0201",
                    v.span,
                    format!("`{}` takes a name, not a string", name),
                )
                .label("remove the quotes")
                .help(format!("write `{} {value}`", name)),
            );
            Some(Setting {
                span: key.span.to(v.span),
                key: Spanned::new(name.to_owned(), key.span),
                value: Spanned::new(value, v.span),
            })
        } else {
            let hint = match name {
                "mode" => "enforce or audit",
                "default" => "allow or deny",
                "log" => "none, denied or all",
                _ => "sni-host-match",
            };
            self.error(
                Diagnostic::error("E0201", key.span, format!("`{}` needs a value", name))
                    .label(format!("expected {hint}"))
                    .help(format!(
                        "write `{} {}`",
                        name,
                        hint.split([',', ' ']).next().unwrap_or("")
                    )),
            );
            self.recover(&ITEM_KEYWORDS);
            None
        }
    }
}
