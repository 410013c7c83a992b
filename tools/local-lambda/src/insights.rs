//! CloudWatch Logs Insights, as far as the recorder's queries need it: development only, never
//! deployed. moto 5.2.5 accepts StartQuery but runs no `filter`, `parse` or `stats`, so its
//! answers say nothing about the report. The gateway keeps a copy of every event a successful
//! PutLogEvents stored (it forwards the call to moto first), and when moto accepts a StartQuery
//! (so IAM and the log group's existence are moto's to check), it runs the query over that copy
//! and answers GetQueryResults with the rows, as Logs Insights would.
//!
//! What it runs, each as the CloudWatch Logs User Guide documents it ("CloudWatch Logs Insights
//! language query syntax" and its pages per command), and nothing else: a query with any other
//! command, function or operator is refused at StartQuery with `MalformedQueryException`, naming
//! what it does not implement.
//! - Commands are separated by `|`; `#` starts a comment ("Query syntax").
//! - `fields a, b`: the fields each result row shows ("fields"); without it, and without `stats`,
//!   rows show `@timestamp`, `@message` and the fields `parse` made.
//! - `filter <condition>`: comparisons `= != < <= > >=` (numbers compared as numbers), `in [...]`
//!   and `not in [...]`, joined by `and`, `or`, `not` and parentheses ("filter", "Boolean,
//!   comparison, numeric, datetime, and other functions"). A field an event lacks matches nothing.
//! - `parse <field> "<glob>" as a, b`: each `*` captures up to the next literal text, the last to
//!   the end; an event the glob does not match gets none of the fields ("parse").
//! - `stats sum(f), count(*), count(f), max(f), min(f) [as alias], ... [by a, b]` ("stats").
//! - `sort f [asc|desc], ...`: ascending unless `desc` ("sort").
//! - `limit n`: at most n rows; without it 10,000; n up to 100,000 ("limit").
//! - `@timestamp` reads `2024-05-14 10:27:31.000` (UTC), as GetQueryResults shows it; the query's
//!   window is inclusive at both ends, in whole seconds (API Reference, "StartQuery").

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use serde_json::{json, Value};

/// Rows without a `limit` ("limit").
const DEFAULT_LIMIT: usize = 10_000;
/// The largest `limit` the "limit" page allows.
const MAX_LIMIT: usize = 100_000;

/// One stored log event.
#[derive(Debug, Clone)]
struct Event {
    stream: String,
    timestamp: i64,
    message: String,
}

/// The events the gateway has seen stored, and the answers of the queries it ran.
#[derive(Default)]
pub struct Insights {
    events: Mutex<HashMap<String, Vec<Event>>>,
    answers: Mutex<HashMap<String, Value>>,
}

fn text(body: &[u8]) -> Option<Value> {
    serde_json::from_slice(body).ok()
}

impl Insights {
    /// PutLogEvents, after moto stored the events: keeps those moto did not reject
    /// (`rejectedLogEventsInfo` gives end indexes of the too old and the too new).
    pub fn stored(&self, request: &[u8], response: &[u8]) {
        let (Some(request), Some(response)) = (text(request), text(response)) else { return };
        let (Some(group), Some(stream)) = (request["logGroupName"].as_str(), request["logStreamName"].as_str()) else {
            return;
        };
        let rejected = &response["rejectedLogEventsInfo"];
        let too_old = rejected["tooOldLogEventEndIndex"].as_i64().max(rejected["expiredLogEventEndIndex"].as_i64());
        let too_new = rejected["tooNewLogEventStartIndex"].as_i64();
        let mut events = self.events.lock().unwrap();
        let kept = events.entry(group.to_owned()).or_default();
        for (i, event) in request["logEvents"].as_array().into_iter().flatten().enumerate() {
            let i = i as i64;
            if too_old.is_some_and(|end| i <= end) || too_new.is_some_and(|start| i >= start) {
                continue;
            }
            if let (Some(timestamp), Some(message)) = (event["timestamp"].as_i64(), event["message"].as_str()) {
                kept.push(Event { stream: stream.to_owned(), timestamp, message: message.to_owned() });
            }
        }
    }

    /// StartQuery, before moto sees it: the reason a query cannot run here, if it cannot.
    pub fn refuses(&self, request: &[u8]) -> Option<String> {
        let request = text(request)?;
        let query = request["queryString"].as_str().unwrap_or_default();
        if request.get("logGroupIdentifiers").is_some() {
            return Some("the local Logs Insights reads logGroupName or logGroupNames, not logGroupIdentifiers".into());
        }
        compile(query).err()
    }

    /// StartQuery, after moto accepted it: runs the query over the events stored so far.
    pub fn started(&self, request: &[u8], response: &[u8]) {
        let (Some(request), Some(response)) = (text(request), text(response)) else { return };
        let Some(id) = response["queryId"].as_str() else { return };
        let Ok(query) = compile(request["queryString"].as_str().unwrap_or_default()) else { return };
        let mut groups: Vec<&str> =
            request["logGroupNames"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        groups.extend(request["logGroupName"].as_str());
        let (start, end) = (request["startTime"].as_i64().unwrap_or(0), request["endTime"].as_i64().unwrap_or(0));
        let events = self.events.lock().unwrap();
        let window: Vec<&Event> = groups
            .iter()
            .filter_map(|g| events.get(*g))
            .flatten()
            .filter(|e| (start..=end).contains(&e.timestamp.div_euclid(1000)))
            .collect();
        let answer = run(&query, &window);
        self.answers.lock().unwrap().insert(id.to_owned(), answer);
    }

    /// GetQueryResults, after moto accepted it: the rows of a query this stand-in ran.
    pub fn results(&self, request: &[u8]) -> Option<Value> {
        let id = text(request)?["queryId"].as_str()?.to_owned();
        self.answers.lock().unwrap().get(&id).cloned()
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Number(f64),
    Symbol(&'static str),
}

const SYMBOLS: [&str; 13] = ["!=", "<=", ">=", "|", ",", "(", ")", "[", "]", "=", "<", ">", "*"];

fn tokens(query: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = query.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '"' || c == '\'' || c == '`' {
            let end =
                chars[i + 1..].iter().position(|&d| d == c).ok_or_else(|| format!("an unclosed {c} in {query:?}"))?;
            let inner: String = chars[i + 1..i + 1 + end].iter().collect();
            out.push(if c == '`' { Token::Word(inner) } else { Token::Text(inner) });
            i += end + 2;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            let number: String = chars[start..i].iter().collect();
            out.push(Token::Number(number.parse().map_err(|_| format!("{number:?} is not a number"))?));
        } else if c.is_alphanumeric() || c == '@' || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || matches!(chars[i], '@' | '_' | '.' | '-')) {
                i += 1;
            }
            out.push(Token::Word(chars[start..i].iter().collect()));
        } else {
            let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
            let symbol = SYMBOLS
                .iter()
                .find(|s| rest.starts_with(**s))
                .ok_or_else(|| format!("the local Logs Insights does not implement {c:?} (in {query:?})"))?;
            out.push(Token::Symbol(symbol));
            i += symbol.len();
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Field(String),
    Literal(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Condition {
    Compare(Operand, &'static str, Operand),
    In(Operand, Vec<String>, bool),
    Not(Box<Condition>),
    And(Box<Condition>, Box<Condition>),
    Or(Box<Condition>, Box<Condition>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Function {
    Sum,
    Count,
    Max,
    Min,
}

#[derive(Debug, Clone, PartialEq)]
struct Aggregate {
    function: Function,
    /// `None`: `count(*)`.
    field: Option<String>,
    name: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Command {
    Fields(Vec<String>),
    Filter(Condition),
    Parse { field: String, glob: String, names: Vec<String> },
    Stats { aggregates: Vec<Aggregate>, by: Vec<String> },
    Sort(Vec<(String, bool)>),
    Limit(usize),
}

/// A compiled query: its commands in order.
#[derive(Debug, Clone, PartialEq)]
struct Query(Vec<Command>);

/// Reads one command's tokens.
struct Reader<'a> {
    tokens: &'a [Token],
    at: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn eat(&mut self, symbol: &str) -> bool {
        let found = matches!(self.peek(), Some(Token::Symbol(s)) if *s == symbol);
        if found {
            self.at += 1;
        }
        found
    }

    fn expect(&mut self, symbol: &str) -> Result<(), String> {
        if self.eat(symbol) {
            Ok(())
        } else {
            Err(format!("expected {symbol:?}, found {:?}", self.peek()))
        }
    }

    fn word(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Token::Word(w)) => Ok(w),
            other => Err(format!("expected a field name, found {other:?}")),
        }
    }

    fn words(&mut self) -> Result<Vec<String>, String> {
        let mut words = vec![self.word()?];
        while self.eat(",") {
            words.push(self.word()?);
        }
        Ok(words)
    }

    fn done(&self, command: &str) -> Result<(), String> {
        match self.peek() {
            None => Ok(()),
            Some(token) => Err(format!("the local Logs Insights does not implement {token:?} in `{command}`")),
        }
    }

    fn operand(&mut self) -> Result<Operand, String> {
        match self.next() {
            Some(Token::Word(w)) => Ok(Operand::Field(w)),
            Some(Token::Text(t)) => Ok(Operand::Literal(t)),
            Some(Token::Number(n)) => Ok(Operand::Literal(n.to_string())),
            other => Err(format!("expected a field or a value, found {other:?}")),
        }
    }

    fn or(&mut self) -> Result<Condition, String> {
        let mut left = self.and()?;
        while self.is_word("or") {
            self.at += 1;
            left = Condition::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Condition, String> {
        let mut left = self.not()?;
        while self.is_word("and") {
            self.at += 1;
            left = Condition::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Condition, String> {
        if self.is_word("not") {
            self.at += 1;
            return Ok(Condition::Not(Box::new(self.not()?)));
        }
        if self.eat("(") {
            let inner = self.or()?;
            self.expect(")")?;
            return Ok(inner);
        }
        let left = self.operand()?;
        let negated = self.is_word("not");
        if negated {
            self.at += 1;
        }
        if self.is_word("in") {
            self.at += 1;
            self.expect("[")?;
            let mut values = Vec::new();
            while !self.eat("]") {
                match self.operand()? {
                    Operand::Literal(v) => values.push(v),
                    Operand::Field(f) => return Err(format!("a list holds values, not the field {f}")),
                }
                self.eat(",");
            }
            return Ok(Condition::In(left, values, negated));
        }
        if negated {
            return Err("`not` before anything but `in` is not implemented".into());
        }
        let operator = match self.next() {
            Some(Token::Symbol(s @ ("=" | "!=" | "<" | "<=" | ">" | ">="))) => s,
            other => return Err(format!("the local Logs Insights does not implement the operator {other:?}")),
        };
        Ok(Condition::Compare(left, operator, self.operand()?))
    }

    fn aggregate(&mut self) -> Result<Aggregate, String> {
        let name = self.word()?;
        let function = match name.to_ascii_lowercase().as_str() {
            "sum" => Function::Sum,
            "count" => Function::Count,
            "max" => Function::Max,
            "min" => Function::Min,
            _ => return Err(format!("the local Logs Insights does not implement the function {name}()")),
        };
        self.expect("(")?;
        let field = if self.eat("*") { None } else { Some(self.word()?) };
        if field.is_none() && function != Function::Count {
            return Err(format!("{name}(*) is not a statistic"));
        }
        self.expect(")")?;
        let alias = if self.is_word("as") {
            self.at += 1;
            self.word()?
        } else {
            format!("{name}({})", field.as_deref().unwrap_or("*"))
        };
        Ok(Aggregate { function, field, name: alias })
    }
}

fn compile(query: &str) -> Result<Query, String> {
    let tokens = tokens(query)?;
    let mut commands = Vec::new();
    for part in tokens.split(|t| *t == Token::Symbol("|")) {
        let mut r = Reader { tokens: part, at: 0 };
        let name = r.word()?.to_ascii_lowercase();
        let command = match name.as_str() {
            "fields" => Command::Fields(r.words()?),
            "filter" => Command::Filter(r.or()?),
            "parse" => {
                let field = r.word()?;
                let Some(Token::Text(glob)) = r.next() else {
                    return Err("the local Logs Insights implements `parse` with a quoted glob only".into());
                };
                if !r.is_word("as") {
                    return Err(format!("`parse {field}` needs `as` and the names of its fields"));
                }
                r.at += 1;
                let names = r.words()?;
                if names.len() != glob.matches('*').count() {
                    return Err(format!("the glob {glob:?} has {} `*` for {} names", glob.matches('*').count(), names.len()));
                }
                Command::Parse { field, glob, names }
            }
            "stats" => {
                let mut aggregates = vec![r.aggregate()?];
                while r.eat(",") {
                    aggregates.push(r.aggregate()?);
                }
                let by = if r.is_word("by") {
                    r.at += 1;
                    r.words()?
                } else {
                    Vec::new()
                };
                Command::Stats { aggregates, by }
            }
            "sort" => {
                let mut keys = Vec::new();
                loop {
                    let field = r.word()?;
                    let descending = r.is_word("desc");
                    if descending || r.is_word("asc") {
                        r.at += 1;
                    }
                    keys.push((field, descending));
                    if !r.eat(",") {
                        break;
                    }
                }
                Command::Sort(keys)
            }
            "limit" => match r.next() {
                Some(Token::Number(n)) if n >= 1.0 && n.fract() == 0.0 && n as usize <= MAX_LIMIT => Command::Limit(n as usize),
                other => return Err(format!("limit takes a whole number from 1 to {MAX_LIMIT}, not {other:?}")),
            },
            other => {
                return Err(format!(
                    "the local Logs Insights does not implement `{other}`: it runs fields, filter, parse, stats, sort and limit"
                ))
            }
        };
        r.done(&name)?;
        commands.push(command);
    }
    Ok(Query(commands))
}

type Record = BTreeMap<String, String>;

fn timestamp_text(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
        .unwrap_or_default()
}

fn value<'a>(record: &'a Record, operand: &'a Operand) -> Option<&'a str> {
    match operand {
        Operand::Field(f) => record.get(f).map(String::as_str),
        Operand::Literal(v) => Some(v),
    }
}

/// Numbers as numbers, anything else as text.
fn compare(a: &str, b: &str) -> Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        _ => a.cmp(b),
    }
}

fn holds(condition: &Condition, record: &Record) -> bool {
    match condition {
        Condition::Compare(a, operator, b) => {
            let (Some(a), Some(b)) = (value(record, a), value(record, b)) else { return false };
            let order = compare(a, b);
            match *operator {
                "=" => order == Ordering::Equal,
                "!=" => order != Ordering::Equal,
                "<" => order == Ordering::Less,
                "<=" => order != Ordering::Greater,
                ">" => order == Ordering::Greater,
                _ => order != Ordering::Less,
            }
        }
        Condition::In(a, values, negated) => {
            value(record, a).is_some_and(|v| values.iter().any(|x| compare(v, x) == Ordering::Equal) != *negated)
        }
        Condition::Not(inner) => !holds(inner, record),
        Condition::And(a, b) => holds(a, record) && holds(b, record),
        Condition::Or(a, b) => holds(a, record) || holds(b, record),
    }
}

/// The glob's captures in `text`: each `*` up to the next literal, the last to the end.
fn captures(glob: &str, text: &str) -> Option<Vec<String>> {
    let mut literals = glob.split('*');
    let mut rest = text.strip_prefix(literals.next().unwrap_or_default())?;
    let literals: Vec<&str> = literals.collect();
    let mut out = Vec::with_capacity(literals.len());
    for (i, literal) in literals.iter().enumerate() {
        if i + 1 == literals.len() && literal.is_empty() {
            out.push(rest.to_owned());
            rest = "";
        } else {
            let at = rest.find(literal)?;
            out.push(rest[..at].to_owned());
            rest = &rest[at + literal.len()..];
        }
    }
    Some(out)
}

fn number_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

fn stats(records: Vec<Record>, aggregates: &[Aggregate], by: &[String]) -> Vec<Record> {
    let mut groups: BTreeMap<Vec<Option<String>>, Vec<Option<String>>> = BTreeMap::new();
    for record in &records {
        let key = by.iter().map(|f| record.get(f).cloned()).collect();
        let state = groups.entry(key).or_insert_with(|| vec![None; aggregates.len()]);
        for (slot, aggregate) in state.iter_mut().zip(aggregates) {
            // count(*) counts every record; any other statistic skips a record without the field.
            let value = match &aggregate.field {
                None => None,
                Some(field) => match record.get(field) {
                    Some(value) => Some(value),
                    None => continue,
                },
            };
            let so_far = || slot.as_deref().map_or(0.0, |s| s.parse().unwrap_or(0.0));
            *slot = match (aggregate.function, value) {
                (Function::Count, _) => Some(number_text(so_far() + 1.0)),
                (Function::Sum, Some(v)) => match v.parse::<f64>() {
                    Ok(n) => Some(number_text(so_far() + n)),
                    Err(_) => slot.take(),
                },
                (Function::Max | Function::Min, Some(v)) => {
                    let wanted = if aggregate.function == Function::Max { Ordering::Greater } else { Ordering::Less };
                    match slot.take() {
                        Some(current) if compare(v, &current) != wanted => Some(current),
                        _ => Some(v.clone()),
                    }
                }
                (_, None) => slot.take(),
            };
        }
    }
    groups
        .into_iter()
        .map(|(key, state)| {
            let mut row = Record::new();
            for (field, value) in by.iter().zip(key) {
                if let Some(value) = value {
                    row.insert(field.clone(), value);
                }
            }
            // A statistic over no value (a sum of `-`s) is left out, as a missing field.
            for (aggregate, value) in aggregates.iter().zip(state) {
                if let Some(value) = value {
                    row.insert(aggregate.name.clone(), value);
                }
            }
            row
        })
        .collect()
}

/// Runs the query over the window's events: GetQueryResults' answer, complete.
fn run(query: &Query, events: &[&Event]) -> Value {
    let mut shown: Vec<String> = Vec::new();
    let mut explicit = false;
    let mut grouped = false;
    let mut limit = DEFAULT_LIMIT;
    let mut records: Vec<Record> = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            Record::from([
                ("@timestamp".to_owned(), timestamp_text(e.timestamp)),
                ("@message".to_owned(), e.message.clone()),
                ("@logStream".to_owned(), e.stream.clone()),
                ("@ptr".to_owned(), format!("local-{i}")),
            ])
        })
        .collect();
    let mut matched = records.len();
    for command in &query.0 {
        match command {
            Command::Fields(fields) => {
                explicit = true;
                shown.extend(fields.iter().cloned());
            }
            Command::Filter(condition) => {
                records.retain(|r| holds(condition, r));
                if !grouped {
                    matched = records.len();
                }
            }
            Command::Parse { field, glob, names } => {
                for record in &mut records {
                    if let Some(values) = record.get(field).and_then(|text| captures(glob, text)) {
                        record.extend(names.iter().cloned().zip(values));
                    }
                }
                if !explicit {
                    shown.extend(names.iter().cloned());
                }
            }
            Command::Stats { aggregates, by } => {
                matched = records.len();
                records = stats(records, aggregates, by);
                grouped = true;
                explicit = true;
                shown = by.iter().chain(aggregates.iter().map(|a| &a.name)).cloned().collect();
            }
            Command::Sort(keys) => records.sort_by(|a, b| {
                keys.iter()
                    .map(|(field, descending)| {
                        let order = match (a.get(field), b.get(field)) {
                            (Some(x), Some(y)) => compare(x, y),
                            (Some(_), None) => Ordering::Less,
                            (None, Some(_)) => Ordering::Greater,
                            (None, None) => Ordering::Equal,
                        };
                        if *descending {
                            order.reverse()
                        } else {
                            order
                        }
                    })
                    .find(|o| o.is_ne())
                    .unwrap_or(Ordering::Equal)
            }),
            Command::Limit(n) => limit = *n,
        }
    }
    if !explicit {
        shown.splice(0..0, ["@timestamp".to_owned(), "@message".to_owned()]);
    }
    if !grouped {
        shown.push("@ptr".into());
    }
    let results: Vec<Value> = records
        .iter()
        .take(limit)
        .map(|r| {
            shown.iter().filter_map(|f| r.get(f).map(|v| json!({"field": f, "value": v}))).collect::<Vec<_>>().into()
        })
        .collect();
    let scanned: usize = events.iter().map(|e| e.message.len()).sum();
    json!({
        "status": "Complete",
        "results": results,
        "statistics": {"recordsMatched": matched as f64, "recordsScanned": events.len() as f64, "bytesScanned": scanned as f64},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(stream: &str, timestamp: i64, message: &str) -> Event {
        Event { stream: stream.into(), timestamp, message: message.into() }
    }

    fn rows(query: &str, events: &[Event]) -> Vec<Vec<(String, String)>> {
        let query = compile(query).unwrap();
        let answer = run(&query, &events.iter().collect::<Vec<_>>());
        answer["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| {
                row.as_array()
                    .unwrap()
                    .iter()
                    .map(|f| (f["field"].as_str().unwrap().to_owned(), f["value"].as_str().unwrap().to_owned()))
                    .collect()
            })
            .collect()
    }

    fn pairs(row: &[(&str, &str)]) -> Vec<(String, String)> {
        row.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn parse_filter_stats_sort_and_limit_answer_as_the_documentation_says() {
        let events = [
            event("a", 1_715_682_451_000, "ACCEPT 10.0.1.5 10.0.0.220 100 OK"),
            event("a", 1_715_682_452_000, "ACCEPT 10.0.1.5 10.0.0.220 250 OK"),
            event("b", 1_715_682_453_000, "ACCEPT 10.0.1.6 10.0.0.220 7 OK"),
            event("b", 1_715_682_454_000, "- - - - SKIPDATA"),
            event("c", 1_715_682_455_000, "ACCEPT 10.0.1.7 10.0.0.220 9 OK"),
        ];
        let query = "filter @logStream in [\"a\", \"b\"] # the recording's streams\n\
            | parse @message \"* * * * *\" as action, src, dst, bytes, status\n\
            | filter bytes > 0 and not (src = \"10.0.1.9\")\n\
            | stats sum(bytes) as total, count(*) as records, max(@timestamp) as last by src\n\
            | sort total desc\n| limit 5";
        assert_eq!(
            rows(query, &events),
            [
                pairs(&[("src", "10.0.1.5"), ("total", "350"), ("records", "2"), ("last", "2024-05-14 10:27:32.000")]),
                pairs(&[("src", "10.0.1.6"), ("total", "7"), ("records", "1"), ("last", "2024-05-14 10:27:33.000")]),
            ]
        );
        let skipped = rows(
            "parse @message \"* * * * *\" as a, b, c, d, status | filter status = \"SKIPDATA\" | stats count(*) as n",
            &events,
        );
        assert_eq!(skipped, [pairs(&[("n", "1")])]);
        let one = rows("fields @timestamp | sort @timestamp desc | limit 1", &events);
        assert_eq!(one, [pairs(&[("@timestamp", "2024-05-14 10:27:35.000"), ("@ptr", "local-4")])]);
    }

    #[test]
    fn the_last_star_takes_the_rest_and_an_unmatched_event_gets_no_fields() {
        assert_eq!(captures("* * *", "a b c d"), Some(vec!["a".into(), "b".into(), "c d".into()]));
        assert_eq!(captures("user=*, id=*", "user=x, id=7"), Some(vec!["x".into(), "7".into()]));
        assert_eq!(captures("* * *", "a"), None);
        let events = [event("a", 0, "lonely")];
        assert!(
            rows("parse @message \"* *\" as x, y | filter x = \"lonely\" | stats count(*) as n", &events).is_empty()
        );
        assert_eq!(rows("parse @message \"* *\" as x, y | stats count(*) as n by x", &events), [pairs(&[("n", "1")])]);
    }

    #[test]
    fn what_it_does_not_implement_is_refused_by_name() {
        for (query, named) in [
            ("fields @message | display @message", "`display`"),
            ("stats avg(bytes)", "avg()"),
            ("filter @message like /x/", "'/'"),
            ("parse @message /(?<x>.*)/", "'/'"),
            ("limit 100001", "from 1 to 100000"),
            ("filter x = 1 | limit 5 extra", "\"extra\""),
            ("parse @message \"* *\" as x", "2 `*` for 1 names"),
        ] {
            let err = compile(query).unwrap_err();
            assert!(err.contains(named), "{query}: {err}");
        }
        let insights = Insights::default();
        let refusal = insights.refuses(br#"{"queryString": "fields x | dedup x"}"#).unwrap();
        assert!(refusal.contains("`dedup`"), "{refusal}");
        assert_eq!(insights.refuses(br#"{"queryString": "fields @timestamp | limit 1"}"#), None);
    }

    #[test]
    fn the_window_is_whole_seconds_inclusive_and_rejected_events_are_not_kept() {
        let insights = Insights::default();
        let put = json!({"logGroupName": "g", "logStreamName": "s", "logEvents": [
            {"timestamp": 9_999, "message": "too old"},
            {"timestamp": 10_000, "message": "first"},
            {"timestamp": 20_999, "message": "last"},
            {"timestamp": 21_000, "message": "after"},
            {"timestamp": 99_000, "message": "too new"},
        ]});
        let answer = json!({"rejectedLogEventsInfo": {"tooOldLogEventEndIndex": 0, "tooNewLogEventStartIndex": 4}});
        insights.stored(put.to_string().as_bytes(), answer.to_string().as_bytes());
        let start = json!({"logGroupName": "g", "queryString": "stats count(*) as n", "startTime": 0, "endTime": 20});
        insights.started(start.to_string().as_bytes(), br#"{"queryId": "q1"}"#);
        let results = insights.results(br#"{"queryId": "q1"}"#).unwrap();
        assert_eq!(results["results"][0][0]["value"], "2");
        assert_eq!(results["statistics"]["recordsScanned"], 2.0);
        assert_eq!(insights.results(br#"{"queryId": "other"}"#), None);
    }
}
