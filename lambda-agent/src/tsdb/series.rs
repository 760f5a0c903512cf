//! Series identity: a metric name plus labels, in one canonical form, and
//! the stable 64-bit series id derived from it.
//!
//! Labels are sorted by name and names may not repeat, so the same set of
//! labels always gives the same canonical text
//! (`metric{a="x",b="y"}`, values escaped as in Prometheus' text format)
//! and therefore the same id: `xxh3_64` of the canonical text. The id names
//! the series in WAL records, block keys and index keys.

use std::fmt;

use super::codec::{Reader, Writer};
use super::error::{DecodeError, Result, TsdbError};

/// Longest metric name, label name or label value, in bytes.
pub const MAX_NAME_BYTES: usize = 256;
/// Longest label value, in bytes.
pub const MAX_VALUE_BYTES: usize = 1024;
/// Most labels on one series.
pub const MAX_LABELS: usize = 32;

/// A series' stable id: `xxh3_64` of its canonical form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesId(pub u64);

impl fmt::Display for SeriesId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// A metric name and its labels, validated and sorted.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    metric: String,
    labels: Vec<(String, String)>,
}

fn valid_name(s: &str, allow_colon: bool) -> bool {
    let mut chars = s.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (allow_colon && c == ':'));
    first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (allow_colon && c == ':'))
}

impl SeriesKey {
    /// Validates and sorts: the metric name matches `[a-zA-Z_:][a-zA-Z0-9_:]*`,
    /// label names `[a-zA-Z_][a-zA-Z0-9_]*`, names are unique, values are
    /// non-empty, and sizes stay within the limits.
    pub fn new<I, K, V>(metric: impl Into<String>, labels: I) -> Result<Self>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let metric = metric.into();
        if metric.len() > MAX_NAME_BYTES || !valid_name(&metric, true) {
            return Err(TsdbError::InvalidSeries(format!(
                "metric name {metric:?} must match [a-zA-Z_:][a-zA-Z0-9_:]* and be at most {MAX_NAME_BYTES} bytes"
            )));
        }
        let mut labels: Vec<(String, String)> = labels
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        if labels.len() > MAX_LABELS {
            return Err(TsdbError::InvalidSeries(format!(
                "{metric} has {} labels, more than {MAX_LABELS}",
                labels.len()
            )));
        }
        for (k, v) in &labels {
            if k.len() > MAX_NAME_BYTES || !valid_name(k, false) {
                return Err(TsdbError::InvalidSeries(format!(
                    "label name {k:?} of {metric} must match [a-zA-Z_][a-zA-Z0-9_]* and be at most {MAX_NAME_BYTES} bytes"
                )));
            }
            if v.is_empty() || v.len() > MAX_VALUE_BYTES {
                return Err(TsdbError::InvalidSeries(format!(
                    "label {k} of {metric} has a value of {} bytes; it must be 1..={MAX_VALUE_BYTES}",
                    v.len()
                )));
            }
        }
        labels.sort();
        if let Some(w) = labels.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(TsdbError::InvalidSeries(format!(
                "label {} of {metric} is given twice",
                w[0].0
            )));
        }
        Ok(Self { metric, labels })
    }

    /// The metric name.
    pub fn metric(&self) -> &str {
        &self.metric
    }

    /// The labels, sorted by name.
    pub fn labels(&self) -> &[(String, String)] {
        &self.labels
    }

    /// The value of label `name`.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The canonical text form, `metric{a="x",b="y"}` (just `metric` without
    /// labels).
    pub fn canonical(&self) -> String {
        let mut s = self.metric.clone();
        if self.labels.is_empty() {
            return s;
        }
        s.push('{');
        for (i, (k, v)) in self.labels.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(k);
            s.push_str("=\"");
            for c in v.chars() {
                match c {
                    '\\' => s.push_str("\\\\"),
                    '"' => s.push_str("\\\""),
                    '\n' => s.push_str("\\n"),
                    c => s.push(c),
                }
            }
            s.push('"');
        }
        s.push('}');
        s
    }

    /// The stable series id.
    pub fn id(&self) -> SeriesId {
        SeriesId(xxhash_rust::xxh3::xxh3_64(self.canonical().as_bytes()))
    }

    /// True if every `(name, value)` of `matchers` is a label of this series.
    pub fn matches(&self, matchers: &[(String, String)]) -> bool {
        matchers
            .iter()
            .all(|(k, v)| self.label(k) == Some(v.as_str()))
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.str(&self.metric);
        w.varint(self.labels.len() as u64);
        for (k, v) in &self.labels {
            w.str(k);
            w.str(v);
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let at = r.pos();
        let metric = r.str("metric name")?.to_string();
        let n = r.count("label count", 2)?;
        let mut labels = Vec::with_capacity(n);
        for _ in 0..n {
            let k = r.str("label name")?.to_string();
            let v = r.str("label value")?.to_string();
            labels.push((k, v));
        }
        let key = Self::new(metric, labels)
            .map_err(|e| DecodeError::new("series key", at, e.to_string()))?;
        Ok(key)
    }
}

impl fmt::Display for SeriesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_is_sorted_and_escaped() {
        let a = SeriesKey::new("cpu", [("mode", "user"), ("host", "a\"b")]).unwrap();
        let b = SeriesKey::new("cpu", [("host", "a\"b"), ("mode", "user")]).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.id(), b.id());
        assert_eq!(a.canonical(), r#"cpu{host="a\"b",mode="user"}"#);
        assert_ne!(
            a.id(),
            SeriesKey::new("cpu", [("mode", "user")]).unwrap().id()
        );
        assert_eq!(
            SeriesKey::new("up", Vec::<(String, String)>::new())
                .unwrap()
                .canonical(),
            "up"
        );
    }

    #[test]
    fn invalid_names_are_refused_with_the_reason() {
        let e = SeriesKey::new("9lives", [("a", "b")]).unwrap_err();
        assert!(e.to_string().contains("9lives"), "{e}");
        let e = SeriesKey::new("m", [("a-b", "x")]).unwrap_err();
        assert!(e.to_string().contains("a-b"), "{e}");
        let e = SeriesKey::new("m", [("a", "x"), ("a", "y")]).unwrap_err();
        assert!(e.to_string().contains("given twice"), "{e}");
        let e = SeriesKey::new("m", [("a", "")]).unwrap_err();
        assert!(e.to_string().contains("value of 0 bytes"), "{e}");
    }

    #[test]
    fn binary_round_trip() {
        let k = SeriesKey::new("net_bytes_total", [("iface", "eth0"), ("host", "h1")]).unwrap();
        let mut w = Writer::default();
        k.encode(&mut w);
        let mut r = Reader::new(&w.buf, "series key");
        assert_eq!(SeriesKey::decode(&mut r).unwrap(), k);
        r.finish().unwrap();
    }
}
