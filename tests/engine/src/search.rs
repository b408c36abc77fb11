//! The search language, as far as users write it: `name=web*`, `status!=up`,
//! `memory>1000`, terms joined by `and` / `or` (with parentheses), `sortby FIELD asc|desc`
//! and `page N`. Anything else is refused with a message saying what was not understood
//! (the engine answers it with a 400 fault).

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A condition on the objects of a collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp {
        field: String,
        op: Op,
        value: String,
    },
}

/// A parsed search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Query {
    pub(crate) filter: Option<Expr>,
    /// Field to sort by, and whether descending.
    pub(crate) sort: Option<(String, bool)>,
    /// Page number, from 1.
    pub(crate) page: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Quoted(String),
    Op(Op),
    Open,
    Close,
}

fn tokens(text: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' => {
                chars.next();
                out.push(if c == '(' { Tok::Open } else { Tok::Close });
            }
            '"' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some(c) => s.push(c),
                        None => return Err("a quoted value is not closed".into()),
                    }
                }
                out.push(Tok::Quoted(s));
            }
            '=' | '!' | '<' | '>' => {
                chars.next();
                let eq = chars.peek() == Some(&'=');
                let op = match (c, eq) {
                    ('=', _) => Op::Eq,
                    ('!', true) => Op::Ne,
                    ('<', false) => Op::Lt,
                    ('<', true) => Op::Le,
                    ('>', false) => Op::Gt,
                    ('>', true) => Op::Ge,
                    _ => return Err("'!' must be followed by '=' (as in status!=up)".into()),
                };
                if eq && c != '=' {
                    chars.next();
                }
                out.push(Tok::Op(op));
            }
            _ => {
                let mut s = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || "()=!<>\"".contains(c) {
                        break;
                    }
                    s.push(c);
                    chars.next();
                }
                out.push(Tok::Word(s));
            }
        }
    }
    Ok(out)
}

fn keyword(t: Option<&Tok>, k: &str) -> bool {
    matches!(t, Some(Tok::Word(w)) if w.eq_ignore_ascii_case(k))
}

struct Parser<'a> {
    toks: Vec<Tok>,
    at: usize,
    fields: &'a [&'a str],
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn expr(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while keyword(self.peek(), "or") {
            self.at += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.atom()?;
        while keyword(self.peek(), "and") {
            self.at += 1;
            left = Expr::And(Box::new(left), Box::new(self.atom()?));
        }
        Ok(left)
    }

    fn field(&self, word: &str) -> Result<String, String> {
        let f = word.to_ascii_lowercase();
        if self.fields.contains(&f.as_str()) {
            Ok(f)
        } else {
            Err(format!(
                "unknown search field '{word}' (this engine knows {})",
                self.fields.join(", ")
            ))
        }
    }

    fn atom(&mut self) -> Result<Expr, String> {
        match self.next() {
            Some(Tok::Open) => {
                let e = self.expr()?;
                match self.next() {
                    Some(Tok::Close) => Ok(e),
                    _ => Err("a '(' is not closed".into()),
                }
            }
            Some(Tok::Word(w))
                if ["and", "or", "sortby", "page"].contains(&w.to_lowercase().as_str()) =>
            {
                Err(format!(
                    "expected a condition such as name=value, found '{w}'"
                ))
            }
            Some(Tok::Word(w)) => {
                let field = self.field(&w)?;
                let op = match self.next() {
                    Some(Tok::Op(op)) => op,
                    _ => {
                        return Err(format!(
                            "expected an operator (=, !=, <, <=, >, >=) after '{w}'"
                        ))
                    }
                };
                let value = match self.next() {
                    Some(Tok::Word(v)) | Some(Tok::Quoted(v)) => v,
                    _ => return Err(format!("expected a value after '{w}'")),
                };
                Ok(Expr::Cmp { field, op, value })
            }
            Some(t) => Err(format!(
                "expected a condition such as name=value, found {t:?}"
            )),
            None => Err("the search ends where a condition was expected".into()),
        }
    }
}

/// Parses a search; `fields` are the field names the collection knows.
pub(crate) fn parse(text: &str, fields: &[&str]) -> Result<Query, String> {
    let mut toks = tokens(text)?;
    // An optional `Vms:` prefix, as in the search box of the administration portal.
    if let Some(Tok::Word(w)) = toks.first() {
        if w.ends_with(':') && w.len() > 1 {
            toks.remove(0);
        }
    }
    let mut p = Parser {
        toks,
        at: 0,
        fields,
    };
    let mut query = Query::default();
    if p.peek().is_some() && !keyword(p.peek(), "sortby") && !keyword(p.peek(), "page") {
        query.filter = Some(p.expr()?);
    }
    if keyword(p.peek(), "sortby") {
        p.at += 1;
        let field = match p.next() {
            Some(Tok::Word(w)) => p.field(&w)?,
            _ => return Err("'sortby' needs a field name".into()),
        };
        let mut desc = false;
        if keyword(p.peek(), "desc") || keyword(p.peek(), "asc") {
            desc = keyword(p.peek(), "desc");
            p.at += 1;
        }
        query.sort = Some((field, desc));
    }
    if keyword(p.peek(), "page") {
        p.at += 1;
        query.page = match p.next() {
            Some(Tok::Word(w)) => match w.parse::<u64>() {
                Ok(n) if n >= 1 => Some(n),
                _ => return Err(format!("'page' needs a whole number from 1, found '{w}'")),
            },
            _ => return Err("'page' needs a whole number from 1".into()),
        };
    }
    match p.next() {
        None => Ok(query),
        Some(Tok::Word(w)) => Err(format!(
            "unexpected '{w}' (conditions are joined with 'and' or 'or'; 'sortby' and 'page' come last)"
        )),
        Some(t) => Err(format!("unexpected {t:?}")),
    }
}

/// Whether `pattern` (with `*` for any text) matches `text`.
pub(crate) fn glob(pattern: &str, text: &str, case_sensitive: bool) -> bool {
    let (p, t) = if case_sensitive {
        (pattern.to_string(), text.to_string())
    } else {
        (pattern.to_lowercase(), text.to_lowercase())
    };
    let parts: Vec<&str> = p.split('*').collect();
    if parts.len() == 1 {
        return p == t;
    }
    let mut rest = t.as_str();
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

/// Orders two field values: as numbers when both are, else as text.
pub(crate) fn compare(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
        _ => a.cmp(b),
    }
}

/// Evaluates `expr`; `values(field)` gives the values an object has for a field.
pub(crate) fn matches(
    expr: &Expr,
    values: &dyn Fn(&str) -> Vec<String>,
    case_sensitive: bool,
) -> bool {
    match expr {
        Expr::And(a, b) => matches(a, values, case_sensitive) && matches(b, values, case_sensitive),
        Expr::Or(a, b) => matches(a, values, case_sensitive) || matches(b, values, case_sensitive),
        Expr::Cmp { field, op, value } => {
            let have = values(field);
            let eq = have.iter().any(|v| glob(value, v, case_sensitive));
            match op {
                Op::Eq => eq,
                Op::Ne => !eq,
                _ => have.iter().any(|v| {
                    let o = compare(v, value);
                    match op {
                        Op::Lt => o.is_lt(),
                        Op::Le => o.is_le(),
                        Op::Gt => o.is_gt(),
                        _ => o.is_ge(),
                    }
                }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: &[&str] = &["name", "status", "memory"];

    fn cmp(field: &str, op: Op, value: &str) -> Expr {
        Expr::Cmp {
            field: field.into(),
            op,
            value: value.into(),
        }
    }

    #[test]
    fn and_binds_tighter_than_or_and_parentheses_group() {
        let q = parse("name=a or name=b and status=up", F).unwrap();
        assert_eq!(
            q.filter.unwrap(),
            Expr::Or(
                Box::new(cmp("name", Op::Eq, "a")),
                Box::new(Expr::And(
                    Box::new(cmp("name", Op::Eq, "b")),
                    Box::new(cmp("status", Op::Eq, "up"))
                ))
            )
        );
        let q = parse("(name=a or name=b) and status!=up", F).unwrap();
        assert!(matches!(q.filter, Some(Expr::And(..))));
    }

    #[test]
    fn sortby_and_page_come_last() {
        let q = parse("Vms: name=vm* sortby name desc page 2", F).unwrap();
        assert_eq!(q.sort, Some(("name".into(), true)));
        assert_eq!(q.page, Some(2));
        let q = parse("sortby memory", F).unwrap();
        assert_eq!((q.filter, q.sort), (None, Some(("memory".into(), false))));
        assert_eq!(parse("page 3", F).unwrap().page, Some(3));
        assert_eq!(
            parse("name = \"a b\"", F).unwrap().filter,
            Some(cmp("name", Op::Eq, "a b"))
        );
    }

    #[test]
    fn what_is_not_understood_is_named() {
        for (text, says) in [
            ("cpu=4", "unknown search field 'cpu'"),
            ("name=a and", "ends where a condition"),
            ("name=a status=up", "unexpected 'status'"),
            ("name", "expected an operator"),
            ("name=", "expected a value"),
            ("page 0", "'page' needs a whole number"),
            ("sortby", "'sortby' needs a field"),
            ("(name=a", "not closed"),
            ("name=\"a", "not closed"),
            ("name!a", "'!' must be followed"),
        ] {
            let e = parse(text, F).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn no_input_makes_the_parser_panic() {
        // Every string of up to 4 tokens drawn from the language's pieces.
        let pieces = [
            "name", "=", "!", "<", ">", "(", ")", "\"", "and", "or", "sortby", "page", "1", "*",
            "x:", " ", "é",
        ];
        let mut texts = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> = texts
                .iter()
                .flat_map(|t| pieces.iter().map(move |p| format!("{t}{p}")))
                .collect();
            texts.extend(longer);
            texts.dedup();
        }
        for t in &texts {
            let _ = parse(t, F);
        }
        assert!(texts.len() > 80_000);
    }

    #[test]
    fn globs_and_comparisons() {
        assert!(glob("vm-00*", "vm-0012", true));
        assert!(!glob("vm-00*", "vm-1012", true));
        assert!(glob("*12", "vm-0012", true));
        assert!(glob("vm*1*", "vm-0012", true));
        assert!(glob("VM-0012", "vm-0012", false));
        assert!(!glob("VM-0012", "vm-0012", true));
        let values = |f: &str| match f {
            "memory" => vec!["2048".to_string()],
            _ => vec!["web".to_string()],
        };
        let q = parse("memory>1000 and memory<=2048 and name!=db", F).unwrap();
        assert!(matches(&q.filter.unwrap(), &values, true));
        let q = parse("memory>=4096 or name=x*", F).unwrap();
        assert!(!matches(&q.filter.unwrap(), &values, true));
    }
}
