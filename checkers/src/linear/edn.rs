//! Register operations of a Jepsen EDN history: one map per line, as Jepsen's
//! `history.edn`, or the whole file one vector of maps.
//!
//! ```text
//! {:type :invoke, :f :cas, :value [1 2], :process 0, :time 123, :index 0}
//! {:type :ok, :f :cas, :value [1 2], :process 0, :time 456, :index 1}
//! ```
//!
//! Knossos' cas-register: `:f` is `:read`, `:write` or `:cas`; a write's `:value` is the
//! value, a cas's `[from to]`, a read's what it saw (`nil` on invocation). Jepsen's
//! independent keys wrap each value as `[k v]` (`[k [from to]]` for a cas); a history is
//! either keyed throughout or not at all. Operations of other processes than integers
//! (`:nemesis`) are skipped. Invocations and completions are paired by process, in the
//! file's order, which is taken as real-time order (`:time` and `:index` are not
//! needed). As Knossos: `:fail` did not happen (dropped, whatever `:error` says), `:info`
//! (or no completion) is unknown.
//!
//! The reader knows the EDN these histories use: `nil`, `true`/`false`, integers,
//! strings, keywords, symbols, vectors, lists, maps, sets, tags (`#inst "..."`, read as
//! what they tag, except in keys), characters (`\a`, `\newline`, `\u0041`), `#_`
//! discards and `;` comments. Floats are kept as text, which is enough for fields the
//! reader does not look at.
//!
//! A key becomes its canonical EDN text, in full: two keys have the same text iff they
//! are the same EDN value, so `1` and `"1"` are two registers (`1` and `"1"`), and
//! `[0 0]` and `[1 1]` are two. A completion's `:value` must agree with its
//! invocation's: an `:ok` write or cas repeats it, and a keyed completion names the
//! same key (or none).

use super::formats::{Completion, Pairing, RegHistory, SINGLE_KEY, name};
use super::{ReadError, RegInput};
use std::collections::BTreeMap;

/// An EDN value.
#[derive(Clone, Debug, PartialEq)]
enum Edn {
    Nil,
    Bool(bool),
    Int(i64),
    Str(String),
    Keyword(String),
    Char(char),
    /// A symbol or a float: kept as written.
    Text(String),
    /// A vector or a list.
    Seq(Vec<Edn>),
    Map(Vec<(Edn, Edn)>),
    Set(Vec<Edn>),
    /// `#tag value`.
    Tagged(String, Box<Edn>),
}

impl Edn {
    /// The value, for an error message: its canonical text, shortened.
    fn describe(&self) -> String {
        const MAX: usize = 40;
        let s = self.canonical();
        if s.chars().count() <= MAX {
            return s;
        }
        let mut short: String = s.chars().take(MAX).collect();
        short.push_str("...");
        short
    }

    /// The value's canonical EDN text, in full: equal iff the values are equal (as EDN
    /// compares them: a list equals the vector of the same items, a map's or a set's
    /// order does not count).
    fn canonical(&self) -> String {
        let mut out = String::new();
        self.write_canonical(&mut out);
        out
    }

    fn write_canonical(&self, out: &mut String) {
        let joined = |out: &mut String, open: &str, items: Vec<String>, close: &str| {
            out.push_str(open);
            out.push_str(&items.join(" "));
            out.push_str(close);
        };
        match self {
            Edn::Nil => out.push_str("nil"),
            Edn::Bool(b) => out.push_str(&b.to_string()),
            Edn::Int(n) => out.push_str(&n.to_string()),
            Edn::Str(s) => {
                out.push('"');
                for c in s.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        '\n' => out.push_str("\\n"),
                        '\t' => out.push_str("\\t"),
                        '\r' => out.push_str("\\r"),
                        c => out.push(c),
                    }
                }
                out.push('"');
            }
            Edn::Keyword(k) => {
                out.push(':');
                out.push_str(k);
            }
            Edn::Char(c) => {
                out.push('\\');
                match CHAR_NAMES.iter().find(|(_, named)| named == c) {
                    Some((name, _)) => out.push_str(name),
                    None if c.is_control() || c.is_whitespace() => {
                        out.push_str(&format!("u{:04x}", *c as u32));
                    }
                    None => out.push(*c),
                }
            }
            Edn::Text(t) => out.push_str(t),
            Edn::Seq(items) => joined(out, "[", items.iter().map(Edn::canonical).collect(), "]"),
            Edn::Map(entries) => {
                let mut entries: Vec<String> = entries
                    .iter()
                    .map(|(k, v)| format!("{} {}", k.canonical(), v.canonical()))
                    .collect();
                entries.sort();
                out.push('{');
                out.push_str(&entries.join(", "));
                out.push('}');
            }
            Edn::Set(items) => {
                let mut items: Vec<String> = items.iter().map(Edn::canonical).collect();
                items.sort();
                joined(out, "#{", items, "}");
            }
            Edn::Tagged(tag, value) => {
                out.push('#');
                out.push_str(tag);
                out.push(' ');
                value.write_canonical(out);
            }
        }
    }

    /// What a tag tags (the value itself if untagged).
    fn untagged(&self) -> &Edn {
        match self {
            Edn::Tagged(_, value) => value.untagged(),
            other => other,
        }
    }
}

/// EDN's named characters.
const CHAR_NAMES: [(&str, char); 6] = [
    ("newline", '\n'),
    ("space", ' '),
    ("tab", '\t'),
    ("return", '\r'),
    ("formfeed", '\u{c}'),
    ("backspace", '\u{8}'),
];

/// Reads the register operations of an EDN history.
pub fn read(text: &str) -> Result<RegHistory, ReadError> {
    let mut ops = Reader::default();
    for (line, form) in top_level(text)? {
        ops.take(line, &form)?;
    }
    Ok(ops.pairing.finish())
}

/// The operation maps of the file with their lines: the elements of one vector, or every
/// top-level form.
fn top_level(text: &str) -> Result<Vec<(usize, Edn)>, ReadError> {
    let mut p = Parser { s: text.as_bytes(), pos: 0, line: 1 };
    p.skip_space();
    let mut forms = Vec::new();
    let whole = p.peek() == Some(b'[');
    if whole {
        p.pos += 1;
    }
    loop {
        p.skip_ignored()?;
        match p.peek() {
            None if whole => return Err(p.error("a closing ] of the history's vector")),
            None => return Ok(forms),
            Some(b']') if whole => {
                p.pos += 1;
                p.skip_ignored()?;
                return match p.peek() {
                    None => Ok(forms),
                    Some(_) => Err(p.error("the end of the file after the history's vector")),
                };
            }
            Some(_) => forms.push((p.line, p.value()?)),
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    line: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn error(&self, expected: &str) -> ReadError {
        let found = match self.s.get(self.pos..) {
            Some([]) | None => "the end of the file".to_owned(),
            Some(rest) => {
                let rest = String::from_utf8_lossy(&rest[..rest.len().min(20)]).into_owned();
                format!("{:?}", rest.lines().next().unwrap_or(""))
            }
        };
        ReadError { line: self.line, message: format!("expected {expected}, found {found}") }
    }

    /// Skips whitespace, commas and comments.
    fn skip_space(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                b'\n' => self.line += 1,
                b';' => {
                    while self.peek().is_some_and(|c| c != b'\n') {
                        self.pos += 1;
                    }
                    continue;
                }
                c if c.is_ascii_whitespace() || c == b',' => {}
                _ => return,
            }
            self.pos += 1;
        }
    }

    /// Skips whitespace, commas, comments and `#_` discarded values.
    fn skip_ignored(&mut self) -> Result<(), ReadError> {
        loop {
            self.skip_space();
            if self.s.get(self.pos..self.pos + 2) != Some(b"#_") {
                return Ok(());
            }
            self.pos += 2;
            self.value()?;
        }
    }

    fn value(&mut self) -> Result<Edn, ReadError> {
        self.skip_ignored()?;
        let Some(c) = self.peek() else {
            return Err(self.error("a value"));
        };
        match c {
            b'{' => {
                let line = self.line;
                self.pos += 1;
                let items = self.items(b'}')?;
                if items.len() % 2 == 1 {
                    let message = format!(
                        "expected a map of keys and values, in pairs, found {} items",
                        items.len()
                    );
                    return Err(ReadError { line, message });
                }
                let mut items = items.into_iter();
                Ok(Edn::Map(std::iter::from_fn(|| Some((items.next()?, items.next()?))).collect()))
            }
            b'[' | b'(' => {
                self.pos += 1;
                Ok(Edn::Seq(self.items(if c == b'[' { b']' } else { b')' })?))
            }
            b'"' => self.string(),
            b'#' => self.dispatch(),
            b'\\' => self.character(),
            b']' | b'}' | b')' => Err(self.error("a value")),
            _ => Ok(self.atom()),
        }
    }

    /// Values up to `close`, which is consumed.
    fn items(&mut self, close: u8) -> Result<Vec<Edn>, ReadError> {
        let mut items = Vec::new();
        loop {
            self.skip_ignored()?;
            match self.peek() {
                Some(c) if c == close => {
                    self.pos += 1;
                    return Ok(items);
                }
                None => return Err(self.error(&format!("a value or {}", close as char))),
                Some(_) => items.push(self.value()?),
            }
        }
    }

    fn dispatch(&mut self) -> Result<Edn, ReadError> {
        self.pos += 1;
        match self.peek() {
            Some(b'{') => {
                self.pos += 1;
                Ok(Edn::Set(self.items(b'}')?))
            }
            // A tag (`#_` is skipped before a value is read).
            Some(c) if c.is_ascii_alphabetic() => {
                let tag = self.word();
                Ok(Edn::Tagged(tag, Box::new(self.value()?)))
            }
            _ => Err(self.error("a set #{...}, a discard #_ or a tag #name after #")),
        }
    }

    fn string(&mut self) -> Result<Edn, ReadError> {
        let start_line = self.line;
        self.pos += 1;
        let mut out = Vec::new();
        while let Some(c) = self.peek() {
            self.pos += 1;
            match c {
                b'"' => return Ok(Edn::Str(String::from_utf8_lossy(&out).into_owned())),
                b'\\' => {
                    let escaped = self.peek().unwrap_or(b'\\');
                    self.pos += 1;
                    out.push(match escaped {
                        b'n' => b'\n',
                        b't' => b'\t',
                        b'r' => b'\r',
                        other => other,
                    });
                }
                b'\n' => {
                    self.line += 1;
                    out.push(c);
                }
                _ => out.push(c),
            }
        }
        Err(ReadError {
            line: start_line,
            message: "expected a closing \" of the string begun here, found the end of the file"
                .to_owned(),
        })
    }

    /// A character: `\\c`, `\\newline` and the other names, or `\\uXXXX`.
    fn character(&mut self) -> Result<Edn, ReadError> {
        let at = self.pos;
        self.pos += 1;
        let rest =
            String::from_utf8_lossy(&self.s[self.pos..self.s.len().min(self.pos + 4)]).into_owned();
        let Some(first) = rest.chars().next().filter(|c| !c.is_whitespace()) else {
            return Err(self.error("a character after \\"));
        };
        self.pos += first.len_utf8();
        if !first.is_alphanumeric() {
            return Ok(Edn::Char(first));
        }
        // A letter may begin a name: the word runs to the next delimiter.
        let start = self.pos - first.len_utf8();
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric()) {
            self.pos += 1;
        }
        let word = String::from_utf8_lossy(&self.s[start..self.pos]).into_owned();
        if word.chars().count() == 1 {
            return Ok(Edn::Char(first));
        }
        if let Some((_, c)) = CHAR_NAMES.iter().find(|(name, _)| *name == word) {
            return Ok(Edn::Char(*c));
        }
        let unicode = word.strip_prefix('u').filter(|hex| hex.len() == 4);
        match unicode.and_then(|hex| u32::from_str_radix(hex, 16).ok()).and_then(char::from_u32) {
            Some(c) => Ok(Edn::Char(c)),
            None => {
                self.pos = at;
                Err(self.error("a character: \\c, \\newline, \\space, \\tab, \\uXXXX..."))
            }
        }
    }

    /// The text of an atom, up to the next delimiter.
    fn word(&mut self) -> String {
        let start = self.pos;
        self.pos += 1;
        while self.peek().is_some_and(|c| !(c.is_ascii_whitespace() || b",;()[]{}\"".contains(&c)))
        {
            self.pos += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.pos]).into_owned()
    }

    /// A keyword, number, symbol, `nil`, `true` or `false`.
    fn atom(&mut self) -> Edn {
        let word = self.word();
        if let Some(k) = word.strip_prefix(':') {
            return Edn::Keyword(k.to_owned());
        }
        match word.as_str() {
            "nil" => Edn::Nil,
            "true" => Edn::Bool(true),
            "false" => Edn::Bool(false),
            w => w.strip_suffix('N').unwrap_or(w).parse().map_or(Edn::Text(word), Edn::Int),
        }
    }
}

/// Turns operation maps into paired operations.
#[derive(Default)]
struct Reader {
    pairing: Pairing,
    /// Whether the history is keyed, and the line that says so.
    keyed: Option<(bool, usize)>,
    /// The input of each process's open invocation, which its completion must match.
    open: BTreeMap<u64, RegInput>,
}

/// The fields of an operation map the reader uses.
struct OpMap<'a> {
    kind: &'a str,
    process: &'a Edn,
    f: &'a str,
    value: &'a Edn,
}

impl Reader {
    fn take(&mut self, line: usize, form: &Edn) -> Result<(), ReadError> {
        let op = op_map(line, form)?;
        let Edn::Int(process) = *op.process else {
            return Ok(()); // the nemesis, or another process that is not a client
        };
        let Ok(process) = u64::try_from(process) else {
            return Err(bad(line, ":process a client number (0 or more)", op.process));
        };
        if !["read", "write", "cas"].contains(&op.f) {
            let found = Edn::Keyword(op.f.to_owned());
            return Err(bad(line, ":f :read, :write or :cas", &found));
        }
        let (key, value) = self.split_key(line, op.f, op.kind == "invoke", op.value)?;
        match op.kind {
            "invoke" => {
                let input = input(line, op.f, value)?;
                let key = key.unwrap_or_else(|| SINGLE_KEY.to_owned());
                self.pairing.invoke(line, process, key, input)?;
                self.open.insert(process, input);
                Ok(())
            }
            kind => {
                // With no invocation of this `:f` open, the pairing says what is wrong.
                let invoked = self.open.remove(&process).filter(|input| name(input) == op.f);
                let how = match invoked {
                    Some(input) => completion(line, kind, &input, value)?,
                    None => Completion::Unknown,
                };
                self.pairing.complete(line, process, op.f, key.as_deref(), how)
            }
        }
    }

    /// The key of a keyed history's value (`[k v]`), and the value itself. Every
    /// invocation must be keyed as the first was; a completion may also carry no key
    /// (`:info` with `:value nil`), and is then taken as its invocation's.
    fn split_key<'a>(
        &mut self,
        line: usize,
        f: &str,
        invoke: bool,
        value: &'a Edn,
    ) -> Result<(Option<String>, &'a Edn), ReadError> {
        let split = match value {
            // A cas's own value is a pair too: keyed only if its second item is one.
            Edn::Seq(pair)
                if pair.len() == 2 && (f != "cas" || matches!(pair[1].untagged(), Edn::Seq(_))) =>
            {
                Some((pair[0].canonical(), pair[1].untagged()))
            }
            _ => None,
        };
        let keyed = split.is_some();
        if !invoke && !keyed {
            return Ok((None, value));
        }
        match self.keyed {
            None => self.keyed = Some((keyed, line)),
            Some((was, first)) if was != keyed => {
                let expected = if was {
                    format!(":value [key value], keyed as on line {first}")
                } else {
                    format!(":value without a key, as on line {first}")
                };
                return Err(bad(line, &expected, value));
            }
            Some(_) => {}
        }
        Ok(match split {
            Some((key, value)) => (Some(key), value),
            None => (None, value),
        })
    }
}

fn op_map(line: usize, form: &Edn) -> Result<OpMap<'_>, ReadError> {
    let Edn::Map(entries) = form else {
        return Err(bad(line, "an operation map {:type ..., :f ..., :process ...}", form));
    };
    let field = |name: &str| {
        entries
            .iter()
            .find(|(k, _)| matches!(k, Edn::Keyword(k) if k == name))
            .map(|(_, v)| v.untagged())
    };
    let keyword = |name: &str, expected: &str| match field(name) {
        Some(Edn::Keyword(k)) => Ok(k.as_str()),
        Some(other) => Err(bad(line, expected, other)),
        None => Err(ReadError { line, message: format!("expected {expected}, found no :{name}") }),
    };
    let kind = keyword("type", ":type :invoke, :ok, :fail or :info")?;
    if !["invoke", "ok", "fail", "info"].contains(&kind) {
        return Err(bad(line, ":type :invoke, :ok, :fail or :info", &Edn::Keyword(kind.into())));
    }
    let process = field("process").ok_or_else(|| ReadError {
        line,
        message: "expected :process (a client number or :nemesis), found no :process".to_owned(),
    })?;
    let f = keyword("f", ":f :read, :write or :cas")?;
    Ok(OpMap { kind, process, f, value: field("value").unwrap_or(&Edn::Nil) })
}

fn input(line: usize, f: &str, value: &Edn) -> Result<RegInput, ReadError> {
    match (f, value) {
        ("read", _) => Ok(RegInput::Read),
        ("write", Edn::Int(v)) => Ok(RegInput::Write(*v)),
        ("write", other) => Err(bad(line, "a write's :value, an integer", other)),
        (_, Edn::Seq(pair)) => match pair.as_slice() {
            [Edn::Int(expect), Edn::Int(new)] => Ok(RegInput::Cas { expect: *expect, new: *new }),
            _ => Err(bad(line, "a cas's :value [from to], two integers", value)),
        },
        (_, other) => Err(bad(line, "a cas's :value [from to], two integers", other)),
    }
}

/// How a completion of `kind` with `value` ended the invocation of `input`. An `:ok`
/// read's value is what it saw; an `:ok` write's or cas's repeats its invocation's.
fn completion(
    line: usize,
    kind: &str,
    input: &RegInput,
    value: &Edn,
) -> Result<Completion, ReadError> {
    match kind {
        "fail" => return Ok(Completion::DidNotHappen),
        "info" => return Ok(Completion::Unknown),
        _ => {}
    }
    match (*input, value) {
        (RegInput::Read, Edn::Int(v)) => Ok(Completion::Ok(Some(*v))),
        (RegInput::Read, Edn::Nil) => Ok(Completion::Ok(None)),
        (RegInput::Read, other) => {
            Err(bad(line, "an :ok :read's :value: an integer or nil (or [key value])", other))
        }
        (RegInput::Write(w), Edn::Int(v)) if *v == w => Ok(Completion::Ok(None)),
        (RegInput::Write(w), other) => {
            let expected = format!("an :ok :write's :value: {w}, as its invocation's");
            Err(bad(line, &expected, other))
        }
        (RegInput::Cas { expect, new }, Edn::Seq(pair)) if matches!(pair.as_slice(), [Edn::Int(a), Edn::Int(b)] if *a == expect && *b == new) => {
            Ok(Completion::Ok(None))
        }
        (RegInput::Cas { expect, new }, other) => {
            let expected = format!("an :ok :cas's :value: [{expect} {new}], as its invocation's");
            Err(bad(line, &expected, other))
        }
    }
}

fn bad(line: usize, expected: &str, found: &Edn) -> ReadError {
    ReadError { line, message: format!("expected {expected}, found {}", found.describe()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linear::formats::Lines;
    use crate::linear::{Budget, CasRegister, Outcome, RegOutput, check_per_key};

    fn ops(h: &RegHistory) -> Vec<(&str, u64, RegInput, Option<RegOutput>, bool)> {
        h.ops
            .iter()
            .map(|(k, op)| (k.as_str(), op.client, op.input, op.output, op.ret.is_some()))
            .collect()
    }

    #[test]
    fn knossos_cas_register_lines_are_read_and_paired() {
        let text = "\
{:type :invoke, :f :write, :value 3, :process 0, :time 1, :index 0}
{:type :invoke, :f :read, :value nil, :process 1, :time 2, :index 1}
{:type :info, :f :start, :value nil, :process :nemesis, :time 3, :index 2}
{:type :ok, :f :write, :value 3, :process 0, :time 4, :index 3}
{:type :ok, :f :read, :value 3, :process 1, :time 5, :index 4}
{:type :invoke, :f :cas, :value [3 4], :process 0, :time 6, :index 5}
{:type :fail, :f :cas, :value [3 4], :process 0, :time 7, :index 6, :error :timed-out}
{:type :invoke, :f :cas, :value [3 5], :process 1}
{:type :info, :f :cas, :value [3 5], :process 1, :error \"socket closed\"}
{:type :invoke, :f :read, :value nil, :process 0}
";
        let h = read(text).unwrap();
        #[rustfmt::skip]
        assert_eq!(ops(&h), [
            ("register", 0, RegInput::Write(3), Some(RegOutput::Ok), true),
            ("register", 1, RegInput::Read, Some(RegOutput::Value(Some(3))), true),
            ("register", 1, RegInput::Cas { expect: 3, new: 5 }, None, false),
            ("register", 0, RegInput::Read, None, false),
        ]);
        assert_eq!(
            h.lines,
            [
                Lines { call: 1, ret: Some(4) },
                Lines { call: 2, ret: Some(5) },
                Lines { call: 8, ret: Some(9) },
                Lines { call: 10, ret: None },
            ]
        );
    }

    #[test]
    fn a_whole_file_vector_of_independent_keys_is_read_per_key() {
        let text = r#"[{:process 0, :type :invoke, :f :write, :value [1 3]}
 {:process 0, :type :ok, :f :write, :value [1 3]} {:process 1, :type :invoke, :f :cas, :value ["b" [3 4]]}
 {:process 1, :type :ok, :f :cas, :value ["b" [3 4]]}
 {:process 2, :type :invoke, :f :read, :value [1 nil]}
 {:process 2, :type :ok, :f :read, :value [1 2]}]"#;
        let h = read(text).unwrap();
        #[rustfmt::skip]
        assert_eq!(ops(&h), [
            ("1", 0, RegInput::Write(3), Some(RegOutput::Ok), true),
            ("\"b\"", 1, RegInput::Cas { expect: 3, new: 4 }, Some(RegOutput::Ok), true),
            ("1", 2, RegInput::Read, Some(RegOutput::Value(Some(2))), true),
        ]);
        assert_eq!(h.lines[1], Lines { call: 2, ret: Some(3) });
        // A crash may lose the key: the completion is its invocation's.
        let crashed = text.replace(
            "{:process 1, :type :ok, :f :cas, :value [\"b\" [3 4]]}",
            "{:process 1, :type :info, :f :cas, :value nil}",
        );
        let crashed = read(&crashed).unwrap();
        assert_eq!(
            ops(&crashed)[1],
            ("\"b\"", 1, RegInput::Cas { expect: 3, new: 4 }, None, false)
        );
        let outcomes = check_per_key(&CasRegister::default(), &h.ops, Budget::UNLIMITED);
        assert!(matches!(outcomes["1"], Outcome::NotLinearizable { stuck: 2, .. }));
        assert!(matches!(outcomes["\"b\""], Outcome::NotLinearizable { stuck: 1, .. }));
    }

    #[test]
    fn the_edn_of_real_histories_is_tolerated() {
        let text = "; a comment\n\
            {:type :invoke, :f :write, :value 1N, :process 0, :time #inst \"2020-01-01\", \
             :extra #{:a \"s\\\"q\" (1.5 \\c sym)}, #_ :dropped #_ 1 :index 0}\n\
            {:type :ok, :f :write, :value 1, :process 0, :error nil, :ok? true}\n";
        let h = read(text).unwrap();
        assert_eq!(ops(&h), [("register", 0, RegInput::Write(1), Some(RegOutput::Ok), true)]);
    }

    #[test]
    fn malformed_lines_say_where_and_what_was_expected() {
        #[rustfmt::skip]
        let cases = [
            ("{:type :invoke, :f :write, :value 1, :process 0}\n{:type :invoke :f}", 2, "a map of keys and values"),
            ("{:type :invoke, :f :write, :value 1, :process 0\n", 2, "a value or }"),
            ("{:type :begin, :f :write, :value 1, :process 0}", 1, ":type :invoke, :ok, :fail or :info, found :begin"),
            ("{:type :invoke, :f :txn, :value 1, :process 0}", 1, ":f :read, :write or :cas, found :txn"),
            ("{:type :invoke, :f :write, :value \"x\", :process 0}", 1, "a write's :value, an integer"),
            ("{:type :invoke, :f :cas, :value [1], :process 0}", 1, "a cas's :value [from to]"),
            ("{:type :ok, :f :read, :value 1, :process 0}", 1, "never invoked"),
            ("{:type :invoke, :f :write, :value 1}", 1, "found no :process"),
            ("{:type :invoke, :f :write, :value [1 2], :process 0}\n{:type :invoke, :f :write, :value 2, :process 1}", 2, "keyed as on line 1"),
            ("[{:type :invoke, :f :write, :value 1, :process 0}", 1, "a closing ]"),
            ("{:type :invoke, :f :write, :value 1, :process 0}\n{:type :ok, :f :write, :value [1 1], :process 0}", 2, ":value without a key, as on line 1"),
            ("{:type :invoke, :f :write, :value 1, :process 0} }", 1, "found \"}\""),
        ];
        for (text, line, expected) in cases {
            let err = read(text).unwrap_err();
            assert_eq!(err.line, line, "{text}: {err}");
            assert!(err.message.contains(expected), "{text}: {err}");
        }
    }
    #[test]
    fn keys_are_their_full_edn_text_and_distinct_keys_stay_apart() {
        let text = "\
{:type :invoke, :f :write, :value [[0 0] 1], :process 0}
{:type :ok,     :f :write, :value [[0 0] 1], :process 0}
{:type :invoke, :f :write, :value [[1 1] 2], :process 1}
{:type :ok,     :f :write, :value [[1 1] 2], :process 1}
{:type :invoke, :f :read,  :value [[0 0] nil], :process 0}
{:type :ok,     :f :read,  :value [[0 0] 2], :process 0}
";
        let h = read(text).unwrap();
        let keys: Vec<_> = ops(&h).iter().map(|op| op.0.to_owned()).collect();
        assert_eq!(keys, ["[0 0]", "[1 1]", "[0 0]"]);
        let outcomes = check_per_key(&CasRegister::default(), &h.ops, Budget::UNLIMITED);
        assert!(matches!(outcomes["[0 0]"], Outcome::NotLinearizable { .. }), "{outcomes:?}");
        assert!(matches!(outcomes["[1 1]"], Outcome::Linearizable), "{outcomes:?}");

        // 1 and "1" are two registers.
        let text = "\
{:type :invoke, :f :write, :value [1 1], :process 0}
{:type :ok, :f :write, :value [1 1], :process 0}
{:type :invoke, :f :write, :value [\"1\" 2], :process 1}
{:type :ok, :f :write, :value [\"1\" 2], :process 1}
{:type :invoke, :f :read, :value [1 nil], :process 0}
{:type :ok, :f :read, :value [1 2], :process 0}
";
        let h = read(text).unwrap();
        let keys: Vec<_> = ops(&h).iter().map(|op| op.0.to_owned()).collect();
        assert_eq!(keys, ["1", "\"1\"", "1"]);
        let outcomes = check_per_key(&CasRegister::default(), &h.ops, Budget::UNLIMITED);
        assert!(matches!(outcomes["1"], Outcome::NotLinearizable { .. }), "{outcomes:?}");
    }

    #[test]
    fn canonical_text_keeps_values_apart_in_full() {
        let value = |text: &str| {
            let mut p = Parser { s: text.as_bytes(), pos: 0, line: 1 };
            p.value().unwrap().canonical()
        };
        #[rustfmt::skip]
        let cases = [
            ("1", "1"), ("1N", "1"), ("\"1\"", "\"1\""), (":a", ":a"), ("a", "a"), ("\\a", "\\a"),
            ("\"a \\\"b\\\" \\\\ c\"", "\"a \\\"b\\\" \\\\ c\""), ("\\newline", "\\newline"),
            ("(1 \"x\" [:k nil])", "[1 \"x\" [:k nil]]"), ("{:b 2, :a 1}", "{:a 1, :b 2}"),
            ("#{3 1 2}", "#{1 2 3}"), ("#uuid \"x\"", "#uuid \"x\""),
        ];
        for (text, canonical) in cases {
            assert_eq!(value(text), canonical, "{text}");
        }
        let long = format!("[{}]", vec!["1"; 60].join(" "));
        assert_eq!(value(&long).len(), long.len());
        assert_ne!(
            value("[1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21]"),
            value("[1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 22]")
        );
    }

    #[test]
    fn completions_must_agree_with_their_invocations() {
        #[rustfmt::skip]
        let cases = [
            ("{:type :invoke, :f :read, :value nil, :process 0}\n{:type :ok, :f :read, :value [1 2 3], :process 0}", 2, "an :ok :read's :value: an integer or nil (or [key value]), found [1 2 3]"),
            ("{:type :invoke, :f :read, :value [1 nil], :process 0}\n{:type :ok, :f :read, :value [1 2 3], :process 0}", 2, "an :ok :read's :value"),
            ("{:type :invoke, :f :read, :value [1 nil], :process 0}\n{:type :ok, :f :read, :value [1 [2 3]], :process 0}", 2, "an :ok :read's :value"),
            ("{:type :invoke, :f :write, :value 1, :process 0}\n{:type :ok, :f :write, :value 2, :process 0}", 2, "an :ok :write's :value: 1, as its invocation's, found 2"),
            ("{:type :invoke, :f :write, :value [:k 1], :process 0}\n{:type :ok, :f :write, :value [:k 2], :process 0}", 2, "an :ok :write's :value: 1"),
            ("{:type :invoke, :f :cas, :value [1 2], :process 0}\n{:type :ok, :f :cas, :value [1 3], :process 0}", 2, "an :ok :cas's :value: [1 2], as its invocation's, found [1 3]"),
            ("{:type :invoke, :f :cas, :value [:k [1 2]], :process 0}\n{:type :ok, :f :cas, :value [:k [2 2]], :process 0}", 2, "an :ok :cas's :value: [1 2]"),
            ("{:type :invoke, :f :write, :value [[0 0] 1], :process 0}\n{:type :ok, :f :write, :value [[1 1] 1], :process 0}", 2, "expected its write on key [0 0]"),
            ("{:type :invoke, :f :write, :value [1 1], :process 0}\n{:type :ok, :f :write, :value [\"1\" 1], :process 0}", 2, "expected its write on key 1"),
            ("{:type :invoke, :f :write, :value 1, :process 0}\n{:type :ok, :f :read, :value 1, :process 0}", 2, "expected its write"),
        ];
        for (text, line, expected) in cases {
            let err = read(text).unwrap_err();
            assert_eq!(err.line, line, "{text}: {err}");
            assert!(err.message.contains(expected), "{text}: {err}");
        }
        // Failed and unknown completions need not repeat the value.
        let text = "{:type :invoke, :f :write, :value 1, :process 0}\n{:type :info, :f :write, :value nil, :process 0}\n\
                    {:type :invoke, :f :cas, :value [1 2], :process 0}\n{:type :fail, :f :cas, :value nil, :process 0}";
        assert_eq!(read(text).unwrap().ops.len(), 1);
    }

    #[test]
    fn discards_before_a_closing_bracket_and_characters_are_read() {
        let text = "{:type :invoke, :f :read, :value nil, :process 0 #_ :x}\n\
                    {:type :ok, :f :read, :value 1, :process 0 #_ :x}\n\
                    [#_ #_ 1 2] #_ {:a 1}\n\
                    {:type :invoke, :f :write, :value 2, :process 1, :c \\(, :d [\\) \\] \\}], :e \\newline, \
                     :f2 \\space, :g (\\a \\u0041 \\\" \\;), :h \"\\\\\"}\n\
                    {:type :ok, :f :write, :value 2, :process 1}\n";
        let err = read(text).unwrap_err();
        // The vector of line 3 is not an operation: everything before it was read.
        assert_eq!(err.line, 3, "{err}");
        assert!(err.message.contains("an operation map"), "{err}");
        let h = read(&text.replace("[#_ #_ 1 2] ", "")).unwrap();
        #[rustfmt::skip]
        assert_eq!(ops(&h), [
            ("register", 0, RegInput::Read, Some(RegOutput::Value(Some(1))), true),
            ("register", 1, RegInput::Write(2), Some(RegOutput::Ok), true),
        ]);
        let mut p = Parser { s: b"(\\( \\newline \\space \\a \\u0041 \\tab)", pos: 0, line: 1 };
        assert_eq!(
            p.value().unwrap(),
            Edn::Seq(vec![
                Edn::Char('('),
                Edn::Char('\n'),
                Edn::Char(' '),
                Edn::Char('a'),
                Edn::Char('A'),
                Edn::Char('\t')
            ])
        );
        let mut p = Parser { s: b"\\nonsense", pos: 0, line: 1 };
        assert!(p.value().unwrap_err().message.contains("a character"));
    }
}
