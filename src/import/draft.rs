//! One imported service as it will be written: KDL nodes built with the `kdl` crate (so
//! quoting and escaping are the parser's own), plus the comments that go above it.

use kdl::{KdlDocument, KdlEntry, KdlNode, KdlValue};

/// A service being translated. Setting a field twice keeps the last value, as both
/// supervisord and systemd do for single-valued keys.
#[derive(Debug, Clone)]
pub struct ServiceDraft {
    pub name: String,
    /// Lines of the comment above the service (without `// `).
    pub notes: Vec<String>,
    /// What was not translated, one line each: also a warning on stderr.
    pub untranslated: Vec<String>,
    fields: Vec<KdlNode>,
}

impl ServiceDraft {
    pub fn new(name: &str) -> Self {
        ServiceDraft {
            name: name.to_string(),
            notes: Vec::new(),
            untranslated: Vec::new(),
            fields: Vec::new(),
        }
    }

    /// The field's node, if set (for tests and for fields that combine several keys).
    pub fn field(&self, name: &str) -> Option<&KdlNode> {
        self.fields.iter().find(|node| node.name().value() == name)
    }

    pub fn has(&self, name: &str) -> bool {
        self.field(name).is_some()
    }

    pub fn remove(&mut self, name: &str) {
        self.fields.retain(|node| node.name().value() != name);
    }

    fn put(&mut self, node: KdlNode) {
        let name = node.name().value().to_string();
        match self.fields.iter_mut().find(|n| n.name().value() == name) {
            Some(existing) => *existing = node,
            None => self.fields.push(node),
        }
    }

    /// `field v1 v2 …` with the given values.
    pub fn set(&mut self, field: &str, values: Vec<KdlValue>) {
        let mut node = KdlNode::new(field);
        for value in values {
            node.push(KdlEntry::new(value));
        }
        self.put(node);
    }

    pub fn set_str(&mut self, field: &str, value: &str) {
        self.set(field, vec![KdlValue::String(value.to_string())]);
    }

    pub fn set_strs(&mut self, field: &str, values: &[String]) {
        self.set(
            field,
            values.iter().cloned().map(KdlValue::String).collect(),
        );
    }

    pub fn set_int(&mut self, field: &str, value: i128) {
        self.set(field, vec![KdlValue::Integer(value)]);
    }

    pub fn set_bool(&mut self, field: &str, value: bool) {
        self.set(field, vec![KdlValue::Bool(value)]);
    }

    /// Seconds as an integer when whole (`stoptime 90`), else a decimal (`0.5`).
    pub fn set_seconds(&mut self, field: &str, seconds: f64) {
        if seconds.fract() == 0.0 && seconds.abs() < 1e15 {
            self.set_int(field, seconds as i128);
        } else {
            self.set(field, vec![KdlValue::Float(seconds)]);
        }
    }

    /// Adds the names to a list field (`requires "a" "b"`), without duplicates.
    pub fn add_names(&mut self, field: &str, names: &[String]) {
        let mut all: Vec<String> = self
            .field(field)
            .map(|node| {
                node.entries()
                    .iter()
                    .filter_map(|e| e.value().as_string().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        for name in names {
            if !all.contains(name) {
                all.push(name.clone());
            }
        }
        if !all.is_empty() {
            self.set_strs(field, &all);
        }
    }

    /// One `KEY "value"` line in a child block (`env`, `limits`).
    pub fn set_child(&mut self, block: &str, key: &str, values: Vec<KdlValue>) {
        if !self.has(block) {
            self.put(KdlNode::new(block));
        }
        let Some(node) = self.fields.iter_mut().find(|n| n.name().value() == block) else {
            return;
        };
        let children = node.ensure_children();
        children.nodes_mut().retain(|n| n.name().value() != key);
        let mut child = KdlNode::new(key);
        for value in values {
            child.push(KdlEntry::new(value));
        }
        children.nodes_mut().push(child);
    }

    /// Records a key that has no equivalent; it is listed above the service.
    pub fn not_translated(&mut self, what: String) {
        self.untranslated.push(what);
    }

    /// The service as KDL text, with its comments.
    pub fn render(&self) -> String {
        let mut text = String::new();
        for note in &self.notes {
            push_comment(&mut text, note);
        }
        if !self.untranslated.is_empty() {
            text.push_str("// Not translated (no equivalent in taskmaster):\n");
            for what in &self.untranslated {
                push_comment(&mut text, &format!("  {what}"));
            }
        }
        let mut service = KdlNode::new("service");
        service.push(KdlEntry::new(self.name.clone()));
        let body = service.ensure_children();
        let mut fields: Vec<&KdlNode> = self.fields.iter().collect();
        fields.sort_by_key(|node| crate::config::field_rank(node.name().value()));
        for field in fields {
            body.nodes_mut().push(field.clone());
        }
        let mut doc = KdlDocument::new();
        doc.nodes_mut().push(service);
        doc.autoformat();
        text.push_str(&doc.to_string());
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text
    }
}

/// A comment line; a newline inside the text would end the comment and leak into KDL.
fn push_comment(text: &mut String, line: &str) {
    let clean: String = line
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    text.push_str("// ");
    text.push_str(clean.trim_end());
    text.push('\n');
}
