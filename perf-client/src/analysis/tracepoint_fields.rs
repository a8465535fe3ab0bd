//! Tracepoint fields decoded with the formats in a file's TRACING_DATA feature (the
//! tracefs `format` files perf stores), printed as perf script does: the event's
//! `print fmt` evaluated (libtraceevent's job in perf), or, when the print format uses
//! something not understood here, every field as `name=value` (libtraceevent's
//! generic rendering).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use crate::perf_data::{PerfData, PerfDataError};

/// One field of a tracepoint record (`field:TYPE NAME; offset:N; size:N; signed:N;`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The field's name.
    pub name: String,
    /// The declared C type (without the name).
    pub ctype: String,
    /// Byte offset in the raw record.
    pub offset: usize,
    /// Size in bytes (the whole array for an array).
    pub size: usize,
    /// Signed integer.
    pub signed: bool,
    /// Number of elements when declared as an array (`name[N]`).
    pub array_len: Option<usize>,
    /// `__data_loc`: a u32 (offset | len << 16) pointing at dynamic data.
    pub data_loc: bool,
}

impl Field {
    fn is_char_array(&self) -> bool {
        self.ctype.contains("char") && (self.array_len.is_some() || self.data_loc)
    }

    fn is_long(&self) -> bool {
        self.ctype.contains("long") && !self.ctype.contains("long long")
    }

    fn is_pointer(&self) -> bool {
        self.ctype.contains('*')
    }
}

/// One tracepoint's format.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceFormat {
    /// `system:name`.
    pub name: String,
    /// The tracepoint id (`attr.config`).
    pub id: u64,
    /// All fields, `common_*` first.
    pub fields: Vec<Field>,
    /// The `print fmt` text after `print fmt: `.
    pub print_fmt: String,
    /// The parsed print format, when understood.
    print: Option<(Vec<Piece>, Vec<Expr>)>,
}

/// The formats of a file, by tracepoint id.
#[derive(Debug, Clone, Default)]
pub struct TraceFormats {
    by_id: HashMap<u64, Arc<TraceFormat>>,
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

impl TraceFormats {
    /// The formats in `file`'s TRACING_DATA; none when the file has no tracepoints.
    ///
    /// # Errors
    ///
    /// A TRACING_DATA section that does not parse.
    pub fn from_file(file: &PerfData) -> Result<Self, PerfDataError> {
        match file.feature(crate::perf_data::feature::TRACING_DATA)? {
            Some(b) => Self::parse(b).ok_or_else(|| {
                PerfDataError::Invalid("the TRACING_DATA feature does not parse".to_owned())
            }),
            None => Ok(Self::default()),
        }
    }

    /// Parses a TRACING_DATA payload (`trace-event-read.c`'s layout); `None` when it is
    /// cut short or has no magic.
    pub fn parse(b: &[u8]) -> Option<Self> {
        if b.get(..10)? != b"\x17\x08\x44tracing" {
            return None;
        }
        let mut at = 10;
        let vend = at + b.get(at..)?.iter().position(|&c| c == 0)?;
        at = vend + 1 + 1 + 1 + 4; // version\0, big_endian, long_size, page_size
        for tag in [&b"header_page\0"[..], b"header_event\0"] {
            if b.get(at..at + tag.len())? != tag {
                return None;
            }
            at += tag.len();
            let size = usize::try_from(u64_at(b, at)?).ok()?;
            at = at.checked_add(8)?.checked_add(size)?;
        }
        let mut out = TraceFormats::default();
        let mut read_formats = |at: &mut usize, system: &str| -> Option<()> {
            let n = u32_at(b, *at)?;
            *at += 4;
            for _ in 0..n {
                let size = usize::try_from(u64_at(b, *at)?).ok()?;
                *at += 8;
                let text = b.get(*at..at.checked_add(size)?)?;
                *at += size;
                if let Some(f) = TraceFormat::parse(system, &String::from_utf8_lossy(text)) {
                    out.by_id.insert(f.id, Arc::new(f));
                }
            }
            Some(())
        };
        read_formats(&mut at, "ftrace")?;
        let systems = u32_at(b, at)?;
        at += 4;
        for _ in 0..systems {
            let end = at + b.get(at..)?.iter().position(|&c| c == 0)?;
            let system = String::from_utf8_lossy(&b[at..end]).into_owned();
            at = end + 1;
            read_formats(&mut at, &system)?;
        }
        Some(out)
    }

    /// The format of tracepoint `id`.
    pub fn get(&self, id: u64) -> Option<&Arc<TraceFormat>> {
        self.by_id.get(&id)
    }

    /// Number of formats.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// No formats.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

impl TraceFormat {
    /// Parses one tracefs `format` file of `system`.
    pub fn parse(system: &str, text: &str) -> Option<Self> {
        let mut name = None;
        let mut id = None;
        let mut fields = Vec::new();
        let mut print_fmt = String::new();
        for line in text.lines() {
            let l = line.trim();
            if let Some(n) = l.strip_prefix("name:") {
                name = Some(n.trim().to_owned());
            } else if let Some(n) = l.strip_prefix("ID:") {
                id = n.trim().parse().ok();
            } else if let Some(p) = l.strip_prefix("print fmt:") {
                print_fmt = p.trim().to_owned();
            } else if l.starts_with("field:") {
                if let Some(f) = parse_field(l) {
                    fields.push(f);
                }
            }
        }
        let print = parse_print_fmt(&print_fmt);
        Some(TraceFormat {
            name: format!("{system}:{}", name?),
            id: id?,
            fields,
            print_fmt,
            print,
        })
    }

    fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Renders the fields of `raw` (the sample's PERF_SAMPLE_RAW bytes) into `out` as
    /// perf script prints them.
    pub fn render(&self, raw: &[u8], out: &mut String) {
        if let Some((pieces, args)) = &self.print {
            let start = out.len();
            if render_print_fmt(self, raw, pieces, args, out).is_some() {
                return;
            }
            out.truncate(start);
        }
        self.render_generic(raw, out);
    }

    /// libtraceevent's `tep_print_fields`: ` name=value` for every non-common field.
    pub fn render_generic(&self, raw: &[u8], out: &mut String) {
        let mut first = true;
        for f in self
            .fields
            .iter()
            .filter(|f| !f.name.starts_with("common_"))
        {
            if !first {
                out.push(' ');
            }
            first = false;
            let _ = write!(out, "{}=", f.name);
            if f.array_len.is_some() || f.data_loc {
                let bytes = field_bytes(f, raw).unwrap_or(&[]);
                if f.is_char_array() {
                    out.push_str(&c_str(bytes));
                } else {
                    out.push_str("ARRAY[");
                    for (i, b) in bytes.iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        let _ = write!(out, "{b:02x}");
                    }
                    out.push(']');
                }
                continue;
            }
            let v = read_int(raw, f.offset, f.size, f.signed).unwrap_or(0);
            if f.is_pointer() {
                let _ = write!(out, "0x{:x}", v as u64);
            } else if f.signed {
                if f.size == 4 && f.is_long() {
                    let _ = write!(out, "0x{:x}", v as i32);
                } else {
                    let _ = write!(out, "{v}");
                }
            } else if f.is_long() {
                let _ = write!(out, "0x{:x}", v as u64);
            } else {
                let _ = write!(out, "{}", v as u64);
            }
        }
    }
}

/// `field:unsigned long args[6]; offset:16; size:48; signed:0;`
fn parse_field(line: &str) -> Option<Field> {
    let mut decl = "";
    let (mut offset, mut size, mut signed) = (None, None, false);
    for part in line.split(';').map(str::trim) {
        if let Some(d) = part.strip_prefix("field:") {
            decl = d.trim();
        } else if let Some(v) = part.strip_prefix("offset:") {
            offset = v.trim().parse().ok();
        } else if let Some(v) = part.strip_prefix("size:") {
            size = v.trim().parse().ok();
        } else if let Some(v) = part.strip_prefix("signed:") {
            signed = v.trim() == "1";
        }
    }
    let data_loc = decl.starts_with("__data_loc");
    // `__data_loc char[] name`: the `[]` belongs to the type.
    let owned = decl.replace("[]", "");
    let decl = owned.as_str();
    // The name is the last identifier, before any `[N]`.
    let (head, array_len) = match decl.find('[') {
        Some(i) => {
            let n = decl[i + 1..].trim_end_matches(']').trim();
            (&decl[..i], Some(n.parse().unwrap_or(0)))
        }
        None => (decl, None),
    };
    let head = head.trim_end();
    let split = head
        .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
        .map_or(0, |i| i + 1);
    let name = head[split..].to_owned();
    let ctype = head[..split].trim().to_owned();
    let (array_len, data_loc) = if data_loc {
        (None, true)
    } else {
        (array_len, false)
    };
    Some(Field {
        name,
        ctype,
        offset: offset?,
        size: size?,
        signed,
        array_len,
        data_loc,
    })
}

fn read_int(raw: &[u8], at: usize, size: usize, signed: bool) -> Option<i128> {
    let b = raw.get(at..at.checked_add(size)?)?;
    Some(match (size, signed) {
        (1, false) => i128::from(b[0]),
        (1, true) => i128::from(b[0] as i8),
        (2, false) => i128::from(u16::from_ne_bytes(b.try_into().ok()?)),
        (2, true) => i128::from(i16::from_ne_bytes(b.try_into().ok()?)),
        (4, false) => i128::from(u32::from_ne_bytes(b.try_into().ok()?)),
        (4, true) => i128::from(i32::from_ne_bytes(b.try_into().ok()?)),
        (8, false) => i128::from(u64::from_ne_bytes(b.try_into().ok()?)),
        (8, true) => i128::from(i64::from_ne_bytes(b.try_into().ok()?)),
        _ => return None,
    })
}

/// The bytes of an array or `__data_loc` field.
fn field_bytes<'r>(f: &Field, raw: &'r [u8]) -> Option<&'r [u8]> {
    if f.data_loc {
        let loc = u32_at(raw, f.offset)?;
        let (off, len) = ((loc & 0xffff) as usize, (loc >> 16) as usize);
        raw.get(off..off.checked_add(len)?)
    } else {
        raw.get(f.offset..f.offset.checked_add(f.size)?)
    }
}

fn c_str(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

// ---- print fmt: a printf format and C-like arguments over REC->field ----

/// A piece of the format string.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Lit(String),
    /// A conversion: flags, width, precision, length modifier, conversion char.
    Conv {
        flags: String,
        width: Option<usize>,
        prec: Option<usize>,
        len: String,
        conv: char,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Num(i128),
    Str(String),
    Field(String),
    Index(String, Box<Expr>),
    Unary(char, Box<Expr>),
    Bin(String, Box<Expr>, Box<Expr>),
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
    Call(String, Vec<Expr>),
    Pair(Box<Expr>, Box<Expr>),
}

#[derive(Debug, Clone, PartialEq)]
enum Val {
    Int(i128),
    Str(String),
}

fn parse_print_fmt(s: &str) -> Option<(Vec<Piece>, Vec<Expr>)> {
    let toks = tokenize(s)?;
    let Some(Tok::Str(fmt)) = toks.first() else {
        return None;
    };
    let pieces = parse_format(fmt)?;
    let mut p = Parser {
        toks: &toks,
        at: 1,
        depth: 0,
    };
    let mut args = Vec::new();
    while p.at < toks.len() {
        p.expect(",")?;
        args.push(p.expr()?);
    }
    let convs = pieces
        .iter()
        .filter(|p| matches!(p, Piece::Conv { .. }))
        .count();
    (convs == args.len()).then_some((pieces, args))
}

fn parse_format(s: &str) -> Option<Vec<Piece>> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c != '%' {
            lit.push(c);
            continue;
        }
        if it.peek() == Some(&'%') {
            it.next();
            lit.push('%');
            continue;
        }
        if !lit.is_empty() {
            out.push(Piece::Lit(std::mem::take(&mut lit)));
        }
        let mut flags = String::new();
        while let Some(&f) = it.peek().filter(|f| "-+ #0".contains(**f)) {
            flags.push(f);
            it.next();
        }
        let num = |it: &mut std::iter::Peekable<std::str::Chars<'_>>| {
            let mut n = String::new();
            while let Some(&d) = it.peek().filter(|d| d.is_ascii_digit()) {
                n.push(d);
                it.next();
            }
            n.parse::<usize>().ok()
        };
        let width = num(&mut it);
        let prec = if it.peek() == Some(&'.') {
            it.next();
            Some(num(&mut it).unwrap_or(0))
        } else {
            None
        };
        // A width from a file is untrusted: no padding to gigabytes.
        if width.max(prec).is_some_and(|w| w > 4096) {
            return None;
        }
        let mut len = String::new();
        while let Some(&l) = it.peek().filter(|l| "hlLqjzt".contains(**l)) {
            len.push(l);
            it.next();
        }
        let conv = it.next()?;
        if !"diouxXcsp".contains(conv) {
            return None;
        }
        // `%pS`-style pointer extensions need kernel symbols: not handled.
        if conv == 'p' && it.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            return None;
        }
        out.push(Piece::Conv {
            flags,
            width,
            prec,
            len,
            conv,
        });
    }
    if !lit.is_empty() {
        out.push(Piece::Lit(lit));
    }
    Some(out)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Str(String),
    Num(i128),
    Id(String),
    Op(String),
}

fn tokenize(s: &str) -> Option<Vec<Tok>> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i] as char;
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' {
            let mut v = String::new();
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' && i + 1 < b.len() && b[i + 1].is_ascii() {
                    i += 1;
                    v.push(match b[i] {
                        b'n' => '\n',
                        b't' => '\t',
                        o => o as char,
                    });
                } else {
                    let ch = s.get(i..)?.chars().next()?;
                    v.push(ch);
                    i += ch.len_utf8() - 1;
                }
                i += 1;
            }
            i += 1;
            // Adjacent literals concatenate.
            if let Some(Tok::Str(prev)) = out.last_mut() {
                prev.push_str(&v);
            } else {
                out.push(Tok::Str(v));
            }
        } else if c.is_ascii_digit() {
            let start = i;
            while i < b.len() && (b[i] as char).is_ascii_alphanumeric() {
                i += 1;
            }
            let t = s[start..i].trim_end_matches(['u', 'U', 'l', 'L']);
            let v = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                i128::from_str_radix(h, 16).ok()?
            } else {
                t.parse().ok()?
            };
            out.push(Tok::Num(v));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < b.len() && ((b[i] as char).is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(Tok::Id(s[start..i].to_owned()));
        } else {
            let two = s.get(i..i + 2).unwrap_or("");
            let op = if ["->", "<<", ">>", "&&", "||", "==", "!=", "<=", ">="].contains(&two) {
                two
            } else {
                s.get(i..i + 1)?
            };
            if !"->,<<>>&&||==!=<=>=+-*/%&|^~!?:()[]{}".contains(op) {
                return None;
            }
            out.push(Tok::Op(op.to_owned()));
            i += op.len();
        }
    }
    Some(out)
}

struct Parser<'t> {
    toks: &'t [Tok],
    at: usize,
    /// Nesting of `expr`: bounded, so a hostile format cannot exhaust the stack.
    depth: usize,
}

const BINARY: &[&[&str]] = &[
    &["||"],
    &["&&"],
    &["|"],
    &["^"],
    &["&"],
    &["==", "!="],
    &["<", ">", "<=", ">="],
    &["<<", ">>"],
    &["+", "-"],
    &["*", "/", "%"],
];

impl Parser<'_> {
    fn peek_op(&self, op: &str) -> bool {
        matches!(self.toks.get(self.at), Some(Tok::Op(o)) if o == op)
    }

    fn expect(&mut self, op: &str) -> Option<()> {
        self.peek_op(op).then(|| self.at += 1)
    }

    fn expr(&mut self) -> Option<Expr> {
        if self.depth >= 64 {
            return None;
        }
        self.depth += 1;
        let e = self.expr_inner();
        self.depth -= 1;
        e
    }

    fn expr_inner(&mut self) -> Option<Expr> {
        let c = self.binary(0)?;
        if self.expect("?").is_some() {
            let a = self.expr()?;
            self.expect(":")?;
            let b = self.expr()?;
            return Some(Expr::Cond(Box::new(c), Box::new(a), Box::new(b)));
        }
        Some(c)
    }

    fn binary(&mut self, level: usize) -> Option<Expr> {
        if level == BINARY.len() {
            return self.unary();
        }
        let mut l = self.binary(level + 1)?;
        while let Some(Tok::Op(o)) = self.toks.get(self.at) {
            if !BINARY[level].contains(&o.as_str()) {
                break;
            }
            let o = o.clone();
            self.at += 1;
            let r = self.binary(level + 1)?;
            l = Expr::Bin(o, Box::new(l), Box::new(r));
        }
        Some(l)
    }

    fn unary(&mut self) -> Option<Expr> {
        if self.depth >= 64 {
            return None;
        }
        self.depth += 1;
        let e = self.unary_inner();
        self.depth -= 1;
        e
    }

    fn unary_inner(&mut self) -> Option<Expr> {
        for op in ['!', '~', '-'] {
            if self.expect(&op.to_string()).is_some() {
                return Some(Expr::Unary(op, Box::new(self.unary()?)));
            }
        }
        // A cast: `(` type words `)`.
        if self.peek_op("(") {
            let mut j = self.at + 1;
            let mut words = 0;
            while let Some(t) = self.toks.get(j) {
                match t {
                    Tok::Id(id) if id != "REC" => words += 1,
                    Tok::Op(o) if o == "*" => {}
                    _ => break,
                }
                j += 1;
            }
            if words > 0 && matches!(self.toks.get(j), Some(Tok::Op(o)) if o == ")") {
                self.at = j + 1;
                return self.unary();
            }
        }
        self.primary()
    }

    fn primary(&mut self) -> Option<Expr> {
        let t = self.toks.get(self.at)?.clone();
        self.at += 1;
        match t {
            Tok::Num(n) => Some(Expr::Num(n)),
            Tok::Str(s) => Some(Expr::Str(s)),
            Tok::Op(o) if o == "(" => {
                let e = self.expr()?;
                self.expect(")")?;
                Some(e)
            }
            Tok::Op(o) if o == "{" => {
                let a = self.expr()?;
                self.expect(",")?;
                let b = self.expr()?;
                self.expect("}")?;
                Some(Expr::Pair(Box::new(a), Box::new(b)))
            }
            Tok::Id(id) if id == "REC" => {
                self.expect("->")?;
                let Some(Tok::Id(field)) = self.toks.get(self.at).cloned() else {
                    return None;
                };
                self.at += 1;
                if self.expect("[").is_some() {
                    let i = self.expr()?;
                    self.expect("]")?;
                    return Some(Expr::Index(field, Box::new(i)));
                }
                Some(Expr::Field(field))
            }
            Tok::Id(id) if self.peek_op("(") => {
                self.at += 1;
                let mut args = Vec::new();
                if self.expect(")").is_none() {
                    loop {
                        args.push(self.expr()?);
                        if self.expect(")").is_some() {
                            break;
                        }
                        self.expect(",")?;
                    }
                }
                Some(Expr::Call(id, args))
            }
            _ => None,
        }
    }
}

fn eval(f: &TraceFormat, raw: &[u8], e: &Expr) -> Option<Val> {
    let int = |e: &Expr| -> Option<i128> {
        match eval(f, raw, e)? {
            Val::Int(v) => Some(v),
            Val::Str(_) => None,
        }
    };
    Some(match e {
        Expr::Num(n) => Val::Int(*n),
        Expr::Str(s) => Val::Str(s.clone()),
        Expr::Field(name) => {
            let fl = f.field(name)?;
            if fl.is_char_array() {
                Val::Str(c_str(field_bytes(fl, raw)?))
            } else if fl.array_len.is_some() || fl.data_loc {
                return None;
            } else {
                Val::Int(read_int(raw, fl.offset, fl.size, fl.signed)?)
            }
        }
        Expr::Index(name, i) => {
            let fl = f.field(name)?;
            let n = fl.array_len.filter(|&n| n > 0)?;
            let el = fl.size / n;
            let i = usize::try_from(int(i)?).ok().filter(|&i| i < n)?;
            Val::Int(read_int(raw, fl.offset + i * el, el, fl.signed)?)
        }
        Expr::Unary(op, a) => {
            let v = int(a)?;
            Val::Int(match op {
                '!' => i128::from(v == 0),
                '~' => !v & i128::from(u64::MAX),
                _ => -v,
            })
        }
        Expr::Bin(op, a, b) => {
            let (x, y) = (int(a)?, int(b)?);
            Val::Int(match op.as_str() {
                "||" => i128::from(x != 0 || y != 0),
                "&&" => i128::from(x != 0 && y != 0),
                "|" => x | y,
                "^" => x ^ y,
                "&" => x & y,
                "==" => i128::from(x == y),
                "!=" => i128::from(x != y),
                "<" => i128::from(x < y),
                ">" => i128::from(x > y),
                "<=" => i128::from(x <= y),
                ">=" => i128::from(x >= y),
                "<<" => x.checked_shl(u32::try_from(y).ok()?)?,
                ">>" => x.checked_shr(u32::try_from(y).ok()?)?,
                "+" => x.checked_add(y)?,
                "-" => x.checked_sub(y)?,
                "*" => x.checked_mul(y)?,
                "/" => x.checked_div(y)?,
                "%" => x.checked_rem(y)?,
                _ => return None,
            })
        }
        Expr::Cond(c, a, b) => {
            if int(c)? != 0 {
                eval(f, raw, a)?
            } else {
                eval(f, raw, b)?
            }
        }
        Expr::Call(name, args) => match name.as_str() {
            "__get_str" | "__get_dynamic_array" => {
                let Some(Expr::Field(n)) = args.first() else {
                    return None;
                };
                let fl = f.field(n)?;
                Val::Str(c_str(field_bytes(fl, raw)?))
            }
            "__print_flags" => {
                let mut val = int(args.first()?)? as u64;
                let Some(Expr::Str(delim)) = args.get(1) else {
                    return None;
                };
                let mut s = String::new();
                let mut printed = false;
                for p in &args[2..] {
                    let Expr::Pair(v, name) = p else { return None };
                    let (Some(Val::Int(fv)), Some(Val::Str(name))) =
                        (eval(f, raw, v), eval(f, raw, name))
                    else {
                        return None;
                    };
                    if val == 0 && fv < 0 {
                        s.push_str(&name);
                        break;
                    }
                    let fv = fv as u64;
                    if fv > 0 && val & fv == fv {
                        if printed {
                            s.push_str(delim);
                        }
                        s.push_str(&name);
                        printed = true;
                        val &= !fv;
                    }
                }
                if val != 0 {
                    if printed {
                        s.push_str(delim);
                    }
                    let _ = write!(s, "0x{val:x}");
                }
                Val::Str(s)
            }
            "__print_symbolic" => {
                let val = int(args.first()?)?;
                for p in &args[1..] {
                    let Expr::Pair(v, name) = p else { return None };
                    if eval(f, raw, v)? == Val::Int(val) {
                        return eval(f, raw, name);
                    }
                }
                Val::Str(format!("0x{:x}", val as u64))
            }
            _ => return None,
        },
        Expr::Pair(..) => return None,
    })
}

fn render_print_fmt(
    f: &TraceFormat,
    raw: &[u8],
    pieces: &[Piece],
    args: &[Expr],
    out: &mut String,
) -> Option<()> {
    let mut args = args.iter();
    for p in pieces {
        let (flags, width, prec, len, conv) = match p {
            Piece::Lit(s) => {
                out.push_str(s);
                continue;
            }
            Piece::Conv {
                flags,
                width,
                prec,
                len,
                conv,
            } => (flags, *width, *prec, len, *conv),
        };
        let v = eval(f, raw, args.next()?)?;
        let body = match (conv, v) {
            ('s', Val::Str(s)) => match prec {
                Some(p) => s.chars().take(p).collect(),
                None => s,
            },
            ('s', Val::Int(_)) | (_, Val::Str(_)) => return None,
            ('c', Val::Int(n)) => char::from(n as u8).to_string(),
            (c, Val::Int(n)) => {
                // Truncate to the argument's C type, as printf would read it.
                let bits = if len.contains('l') || len.contains('q') || len.contains('j') {
                    64
                } else if len == "h" {
                    16
                } else if len == "hh" {
                    8
                } else if c == 'p' {
                    64
                } else {
                    32
                };
                let mask: u64 = if bits == 64 {
                    u64::MAX
                } else {
                    (1 << bits) - 1
                };
                let u = (n as u64) & mask;
                let s = match c {
                    'd' | 'i' => {
                        let shift = 64 - bits;
                        (((u << shift) as i64) >> shift).to_string()
                    }
                    'u' => u.to_string(),
                    'o' => format!("{u:o}"),
                    'x' => format!("{u:x}"),
                    'X' => format!("{u:X}"),
                    _ => format!("0x{u:x}"),
                };
                let s = if flags.contains('#') && u != 0 && (c == 'x' || c == 'X') {
                    format!("0x{s}")
                } else {
                    s
                };
                match prec {
                    Some(p) if s.len() < p => format!("{}{s}", "0".repeat(p - s.len())),
                    _ => s,
                }
            }
        };
        let w = width.unwrap_or(0);
        let n = body.chars().count();
        if n >= w {
            out.push_str(&body);
        } else if flags.contains('-') {
            out.push_str(&body);
            out.push_str(&" ".repeat(w - n));
        } else if flags.contains('0') && conv != 's' {
            let (sign, digits) = match body.strip_prefix('-') {
                Some(d) => ("-", d),
                None => ("", body.as_str()),
            };
            out.push_str(sign);
            out.push_str(&"0".repeat(w - n));
            out.push_str(digits);
        } else {
            out.push_str(&" ".repeat(w - n));
            out.push_str(&body);
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHED_SWITCH: &str = r#"name: sched_switch
ID: 316
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:char prev_comm[16];	offset:8;	size:16;	signed:0;
	field:pid_t prev_pid;	offset:24;	size:4;	signed:1;
	field:int prev_prio;	offset:28;	size:4;	signed:1;
	field:long prev_state;	offset:32;	size:8;	signed:1;
	field:char next_comm[16];	offset:40;	size:16;	signed:0;
	field:pid_t next_pid;	offset:56;	size:4;	signed:1;
	field:int next_prio;	offset:60;	size:4;	signed:1;

print fmt: "prev_comm=%s prev_pid=%d prev_prio=%d prev_state=%s%s ==> next_comm=%s next_pid=%d next_prio=%d", REC->prev_comm, REC->prev_pid, REC->prev_prio, (REC->prev_state & ((((0x00000000 | 0x00000001 | 0x00000002 | 0x00000004 | 0x00000008 | 0x00000010 | 0x00000020 | 0x00000040) + 1) << 1) - 1)) ? __print_flags(REC->prev_state & ((((0x00000000 | 0x00000001 | 0x00000002 | 0x00000004 | 0x00000008 | 0x00000010 | 0x00000020 | 0x00000040) + 1) << 1) - 1), "|", { 0x00000001, "S" }, { 0x00000002, "D" }, { 0x00000004, "T" }, { 0x00000008, "t" }, { 0x00000010, "X" }, { 0x00000020, "Z" }, { 0x00000040, "P" }, { 0x00000080, "I" }) : "R", REC->prev_state & (((0x00000000 | 0x00000001 | 0x00000002 | 0x00000004 | 0x00000008 | 0x00000010 | 0x00000020 | 0x00000040) + 1) << 1) ? "+" : "", REC->next_comm, REC->next_pid, REC->next_prio
"#;

    fn switch_raw(prev_state: i64) -> Vec<u8> {
        let mut r = vec![0u8; 64];
        r[8..10].copy_from_slice(b"sh");
        r[24..28].copy_from_slice(&42i32.to_ne_bytes());
        r[28..32].copy_from_slice(&120i32.to_ne_bytes());
        r[32..40].copy_from_slice(&prev_state.to_ne_bytes());
        r[40..45].copy_from_slice(b"rustc");
        r[56..60].copy_from_slice(&7i32.to_ne_bytes());
        r[60..64].copy_from_slice(&100i32.to_ne_bytes());
        r
    }

    #[test]
    fn sched_switch_prints_like_perf_script() {
        let f = TraceFormat::parse("sched", SCHED_SWITCH).unwrap();
        assert_eq!(f.name, "sched:sched_switch");
        assert_eq!(f.id, 316);
        assert!(f.print.is_some(), "print fmt understood");
        for (state, shown) in [(0, "R"), (1, "S"), (2, "D"), (0x100, "R+"), (0x3, "S|D")] {
            let mut s = String::new();
            f.render(&switch_raw(state), &mut s);
            assert_eq!(
                s,
                format!(
                    "prev_comm=sh prev_pid=42 prev_prio=120 prev_state={shown} ==> \
                     next_comm=rustc next_pid=7 next_prio=100"
                )
            );
        }
        let mut s = String::new();
        f.render_generic(&switch_raw(1), &mut s);
        assert_eq!(
            s,
            "prev_comm=sh prev_pid=42 prev_prio=120 prev_state=1 next_comm=rustc next_pid=7 next_prio=100"
        );
    }

    #[test]
    fn sys_enter_indexes_its_args_array_and_prints_hex() {
        let text = "name: sys_enter\nID: 22\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\n\tfield:long id;\toffset:8;\tsize:8;\tsigned:1;\n\tfield:unsigned long args[6];\toffset:16;\tsize:48;\tsigned:0;\n\nprint fmt: \"NR %ld (%lx, %lx, %lx, %lx, %lx, %lx)\", REC->id, REC->args[0], REC->args[1], REC->args[2], REC->args[3], REC->args[4], REC->args[5]\n";
        let f = TraceFormat::parse("raw_syscalls", text).unwrap();
        let mut raw = vec![0u8; 64];
        raw[8..16].copy_from_slice(&12i64.to_ne_bytes());
        raw[24..32].copy_from_slice(&0x7ffcf354656cu64.to_ne_bytes());
        raw[40..48].copy_from_slice(&0x37fu64.to_ne_bytes());
        let mut s = String::new();
        f.render(&raw, &mut s);
        assert_eq!(s, "NR 12 (0, 7ffcf354656c, 0, 37f, 0, 0)");
    }

    #[test]
    fn unknown_print_helpers_fall_back_to_every_field() {
        let text = "name: x\nID: 1\nformat:\n\tfield:int a;\toffset:0;\tsize:4;\tsigned:1;\n\tfield:__data_loc char[] s;\toffset:4;\tsize:4;\tsigned:0;\n\nprint fmt: \"%s\", __print_hex(REC->a, 4)\n";
        let f = TraceFormat::parse("t", text).unwrap();
        let mut raw = Vec::new();
        raw.extend_from_slice(&(-5i32).to_ne_bytes());
        raw.extend_from_slice(&(8u32 | (3 << 16)).to_ne_bytes());
        raw.extend_from_slice(b"hi\0");
        let mut s = String::new();
        f.render(&raw, &mut s);
        assert_eq!(s, "a=-5 s=hi");
    }

    #[test]
    fn hostile_print_formats_fall_back_instead_of_panicking() {
        for fmt in [
            "\"%99999999999d\", REC->a",
            "\"é%d\" é, REC->a",
            "\"\\é\", REC->a",
            "\"%d\", REC->a[",
            "\"%d\", (((((",
            &format!(
                "\"%d\", {}REC->a{}",
                "(".repeat(100_000),
                ")".repeat(100_000)
            ),
            &format!("\"%d\", {}REC->a", "!".repeat(100_000)),
            &format!("\"%d\", {}REC->a", "(int)".repeat(100_000)),
            &format!("\"%d\", REC->a{}", " ? 1 : 2".repeat(100_000)),
        ] {
            let text = format!(
                "name: x\nID: 1\nformat:\n\tfield:int a;\toffset:0;\tsize:4;\tsigned:1;\n\nprint fmt: {fmt}\n"
            );
            let f = TraceFormat::parse("t", &text).unwrap();
            let mut s = String::new();
            f.render(&7i32.to_ne_bytes(), &mut s);
            assert!(!s.is_empty(), "{fmt}");
        }
    }

    #[test]
    fn cut_tracing_data_is_refused_not_a_panic() {
        assert!(TraceFormats::parse(b"\x17\x08\x44tracing0.6\0").is_none());
        assert!(TraceFormats::parse(b"nonsense").is_none());
    }
}
