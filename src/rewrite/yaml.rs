//! The YAML side of `rewrite`: reads a file's events with libyaml's
//! grammar (libyaml-safer, a safe Rust port of the C library that PyYAML
//! and, through its Go port, `kubectl` use, so what Kubernetes accepts is
//! accepted here) into a small tree of nodes that keeps, for every scalar,
//! its exact byte range in the text. Keys and values are paired by the
//! structure itself, so an alias or a merge key (`<<: *defaults`) never
//! shifts the keys after it. Anchors are kept so that a value used through
//! an alias is edited once, where it is written.
//!
//! The event loop is flat and the depth bounded ([`MAX_DEPTH`]); the tree
//! is walked through parent links, never by recursion.

use libyaml_safer::{EventData, Parser};
use std::ops::Range;

/// Deepest nesting of collections a file may have: the event loop is
/// flat, but what reads the file after us may not be, and no workload
/// needs more.
pub const MAX_DEPTH: usize = 1000;

/// A file that is not YAML.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct YamlError {
    /// 1-based line.
    pub line: usize,
    /// The parser's message.
    pub message: String,
}

/// One node of a document.
#[derive(Debug)]
pub enum Node {
    /// A mapping: its entries in order, each a scalar key's text (`None`
    /// for an alias or collection used as a key) and the value's node.
    Map {
        /// The enclosing collection.
        parent: Option<usize>,
        /// Key text and value node.
        entries: Vec<(Option<String>, usize)>,
    },
    /// A sequence.
    Seq {
        /// The enclosing collection.
        parent: Option<usize>,
    },
    /// A scalar value (keys are not nodes; their text is in the map).
    Scalar(Scalar),
    /// An alias (`*name`) in a value position.
    Alias {
        /// The anchor it names.
        anchor: String,
        /// Byte offset of the `*`.
        at: usize,
    },
}

/// A scalar value and where it is written.
#[derive(Debug)]
pub struct Scalar {
    /// The enclosing collection.
    pub parent: Option<usize>,
    /// The key it is the value of, when its parent is a mapping.
    pub key: Option<String>,
    /// The value as YAML reads it.
    pub value: String,
    /// Bytes of the value as written (quotes included, the anchor and
    /// tag before it excluded).
    pub raw: Range<usize>,
    /// Whether it is a plain or quoted scalar (block scalars are not).
    pub flow: bool,
    /// Its anchor (`&name`), when it has one.
    pub anchor: Option<String>,
}

/// The nodes of every document in a file, in the order they start.
#[derive(Debug, Default)]
pub struct Tree {
    /// All nodes; parents come before their children.
    pub nodes: Vec<Node>,
}

impl Tree {
    /// The scalar value under `key` in the mapping `map`.
    pub fn get(&self, map: usize, key: &str) -> Option<&Scalar> {
        let Some(Node::Map { entries, .. }) = self.nodes.get(map) else {
            return None;
        };
        entries.iter().find_map(|(k, v)| match self.nodes.get(*v) {
            Some(Node::Scalar(s)) if k.as_deref() == Some(key) => Some(s),
            _ => None,
        })
    }

    /// The mapping node under `key` in the mapping `map`.
    pub fn get_map(&self, map: usize, key: &str) -> Option<usize> {
        let Some(Node::Map { entries, .. }) = self.nodes.get(map) else {
            return None;
        };
        entries.iter().find_map(|(k, v)| {
            (k.as_deref() == Some(key) && matches!(self.nodes.get(*v), Some(Node::Map { .. })))
                .then_some(*v)
        })
    }

    /// The parent of a node.
    pub fn parent(&self, node: usize) -> Option<usize> {
        match self.nodes.get(node)? {
            Node::Map { parent, .. } | Node::Seq { parent } => *parent,
            Node::Scalar(s) => s.parent,
            Node::Alias { .. } => None,
        }
    }
}

/// A collection being read.
struct Open {
    node: usize,
    /// For a mapping: `None` while a key is expected; `Some(key)` once it
    /// was read and its value is next.
    pending: Option<Option<String>>,
}

struct Builder<'t> {
    text: &'t str,
    tree: Tree,
    open: Vec<Open>,
}

impl Builder<'_> {
    /// Where a new node goes: its parent, and the key it is the value of.
    /// Returns `None` as the key slot when the node is itself a key.
    fn place(&mut self) -> (Option<usize>, Slot) {
        match self.open.last_mut() {
            None => (None, Slot::Value(None)),
            Some(o) => match &mut o.pending {
                Some(k) => {
                    let k = k.take();
                    o.pending = None;
                    (Some(o.node), Slot::Value(k))
                }
                None if matches!(self.tree.nodes.get(o.node), Some(Node::Map { .. })) => {
                    (Some(o.node), Slot::Key)
                }
                None => (Some(o.node), Slot::Value(None)),
            },
        }
    }

    /// Records a finished node as its parent's entry (or, for a mapping's
    /// key that is not a scalar, as a key with no text).
    fn attach(&mut self, parent: Option<usize>, slot: Slot, node: usize) {
        let Some(p) = parent else { return };
        match slot {
            Slot::Key => {
                if let Some(o) = self.open.last_mut() {
                    o.pending = Some(None);
                }
            }
            Slot::Value(key) => {
                if let Some(Node::Map { entries, .. }) = self.tree.nodes.get_mut(p) {
                    entries.push((key, node));
                }
            }
        }
    }

    /// A mapping or sequence starts: a node, attached to its parent, and
    /// open until its end event.
    fn open_collection(&mut self, map: bool) {
        let (parent, slot) = self.place();
        let node = self.tree.nodes.len();
        self.tree.nodes.push(match map {
            true => Node::Map {
                parent,
                entries: Vec::new(),
            },
            false => Node::Seq { parent },
        });
        self.attach(parent, slot, node);
        self.open.push(Open {
            node,
            pending: None,
        });
    }

    /// A scalar: a mapping's key (its text kept for the value after it),
    /// or a value node with the byte range of what is written.
    fn scalar(
        &mut self,
        value: String,
        anchor: Option<String>,
        tag: bool,
        flow: bool,
        marks: Range<usize>,
    ) {
        let (parent, slot) = self.place();
        let key = match slot {
            Slot::Key => {
                if let Some(o) = self.open.last_mut() {
                    o.pending = Some(Some(value));
                }
                return;
            }
            Slot::Value(ref k) => k.clone(),
        };
        let raw = self.raw_range(marks.start, marks.end, anchor.is_some(), tag);
        let node = self.tree.nodes.len();
        self.tree.nodes.push(Node::Scalar(Scalar {
            parent,
            key,
            value,
            raw,
            flow,
            anchor,
        }));
        self.attach(parent, slot, node);
    }

    /// The bytes of a scalar after its properties (`&anchor`, `!tag`).
    fn raw_range(&self, start: usize, end: usize, anchor: bool, tag: bool) -> Range<usize> {
        let bytes = self.text.as_bytes();
        let mut at = start.min(end);
        let mut props = usize::from(anchor) + usize::from(tag);
        while props > 0 && at < end {
            if matches!(bytes.get(at), Some(b'&' | b'!')) {
                while at < end && !matches!(bytes.get(at), Some(b' ' | b'\t' | b'\r' | b'\n')) {
                    at += 1;
                }
                props -= 1;
            }
            while at < end && matches!(bytes.get(at), Some(b' ' | b'\t' | b'\r' | b'\n')) {
                at += 1;
            }
            if !matches!(bytes.get(at), Some(b'&' | b'!')) {
                break;
            }
        }
        at..end
    }
}

#[derive(Clone)]
enum Slot {
    Key,
    Value(Option<String>),
}

fn error(e: &libyaml_safer::Error) -> YamlError {
    let line = e.problem_mark().map_or(0, |m| m.line as usize + 1);
    let message = match e.context() {
        Some(c) => format!("{} {c}", e.problem()),
        None => e.problem().to_string(),
    };
    YamlError { line, message }
}

/// The next event. libyaml-safer 0.3.0 panics where the C library does
/// not: at the end of a file whose last line is in a block scalar without
/// a line break (avoided in [`read`] by giving it one), and on a tag
/// followed by `,` in a flow collection (`[!x, y]`, which C libyaml
/// accepts). A panic there is caught and is this file's parse error; the
/// parser is not used after it.
fn next_event(
    parser: &mut Parser<&mut &[u8]>,
    line: usize,
) -> Result<libyaml_safer::Event, YamlError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parser.parse())) {
        Ok(r) => r.map_err(|e| error(&e)),
        Err(_) => Err(YamlError {
            line,
            message: "the YAML parser (libyaml-safer) failed on this file after this line; a tag directly followed by `,` in a flow collection is one known cause".into(),
        }),
    }
}

/// Reads every document of `text` into a [`Tree`].
pub fn read(text: &str) -> Result<Tree, YamlError> {
    // A final line break, if the file has none: the parser needs one after
    // a block scalar, and bytes added at the end move no position.
    let terminated;
    let mut input = match text.ends_with('\n') {
        true => text.as_bytes(),
        false => {
            terminated = format!("{text}\n");
            terminated.as_bytes()
        }
    };
    let mut parser = Parser::new();
    parser.set_input_string(&mut input);
    let mut b = Builder {
        text,
        tree: Tree::default(),
        open: Vec::new(),
    };
    let mut line = 1;
    loop {
        let ev = next_event(&mut parser, line)?;
        line = ev.end_mark.line as usize + 1;
        let start = usize::try_from(ev.start_mark.index).unwrap_or(usize::MAX);
        let end = usize::try_from(ev.end_mark.index)
            .unwrap_or(usize::MAX)
            .min(text.len());
        match ev.data {
            EventData::StreamEnd => return Ok(b.tree),
            EventData::MappingStart { .. } | EventData::SequenceStart { .. } => {
                if b.open.len() >= MAX_DEPTH {
                    return Err(YamlError {
                        line: ev.start_mark.line as usize + 1,
                        message: format!("nested deeper than {MAX_DEPTH} levels"),
                    });
                }
                b.open_collection(matches!(ev.data, EventData::MappingStart { .. }));
            }
            EventData::MappingEnd | EventData::SequenceEnd => {
                b.open.pop();
            }
            EventData::Alias { anchor } => {
                let (parent, slot) = b.place();
                let node = b.tree.nodes.len();
                b.tree.nodes.push(Node::Alias { anchor, at: start });
                b.attach(parent, slot, node);
            }
            EventData::Scalar {
                anchor,
                tag,
                value,
                style,
                ..
            } => {
                let flow = matches!(
                    style,
                    libyaml_safer::ScalarStyle::Plain
                        | libyaml_safer::ScalarStyle::SingleQuoted
                        | libyaml_safer::ScalarStyle::DoubleQuoted
                );
                let has_tag = tag.is_some();
                b.scalar(value, anchor, has_tag, flow, start..end);
            }
            _ => {}
        }
    }
}
