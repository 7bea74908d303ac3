//! [`NamedValue`]: a name and a value, and the list of them that an event
//! carries.
//!
//! As in the reference, a [`NamedValue`] is a linked list (`next()`), so one
//! event can carry every attribute a PATCH changed; it is also an iterator
//! source ([`NamedValue::iter`]).

use iotcs_core::Value;

/// A name and a value: an attribute and its value, a format field, or an
/// action argument. Reference: `NamedValue`.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedValue {
    name: String,
    value: Value,
    next: Option<Box<NamedValue>>,
}

impl NamedValue {
    /// A single-element list.
    pub fn new(name: impl Into<String>, value: Value) -> Self {
        NamedValue {
            name: name.into(),
            value,
            next: None,
        }
    }

    /// Builds a list from `(name, value)` pairs in order; `None` when there
    /// are none.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, Value)>) -> Option<Self> {
        let pairs: Vec<(String, Value)> = pairs.into_iter().collect();
        let mut head: Option<Box<NamedValue>> = None;
        for (name, value) in pairs.into_iter().rev() {
            head = Some(Box::new(NamedValue {
                name,
                value,
                next: head,
            }));
        }
        head.map(|b| *b)
    }

    /// The name. Reference: `getName()`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value. Reference: `getValue()`.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The next element, or `None` at the end. Reference: `next()`.
    pub fn next(&self) -> Option<&NamedValue> {
        self.next.as_deref()
    }

    /// Walks the list from this element on.
    pub fn iter(&self) -> NamedValues<'_> {
        NamedValues { next: Some(self) }
    }

    /// The value of the element called `name`, if any.
    pub fn find(&self, name: &str) -> Option<&Value> {
        self.iter()
            .find(|nv| nv.name == name)
            .map(NamedValue::value)
    }
}

impl<'a> IntoIterator for &'a NamedValue {
    type Item = &'a NamedValue;
    type IntoIter = NamedValues<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Iterator over a [`NamedValue`] list.
#[derive(Clone, Debug)]
pub struct NamedValues<'a> {
    next: Option<&'a NamedValue>,
}

impl<'a> Iterator for NamedValues<'a> {
    type Item = &'a NamedValue;

    fn next(&mut self) -> Option<Self::Item> {
        let current = self.next?;
        self.next = current.next();
        Some(current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_become_a_linked_list_in_order() {
        let list = NamedValue::from_pairs(vec![
            ("a".to_owned(), Value::Integer(1)),
            ("b".to_owned(), Value::Boolean(true)),
            ("c".to_owned(), Value::from("x")),
        ])
        .unwrap();
        assert_eq!(list.name(), "a");
        assert_eq!(list.value(), &Value::Integer(1));
        let second = list.next().unwrap();
        assert_eq!(second.name(), "b");
        let third = second.next().unwrap();
        assert_eq!(third.value(), &Value::from("x"));
        assert!(third.next().is_none());
        let names: Vec<&str> = list.iter().map(NamedValue::name).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!((&list).into_iter().count(), 3);
        assert_eq!(list.find("b"), Some(&Value::Boolean(true)));
        assert_eq!(list.find("z"), None);
    }

    #[test]
    fn no_pairs_is_no_list() {
        assert!(NamedValue::from_pairs(Vec::new()).is_none());
        let single = NamedValue::new("only", Value::Number(1.5));
        assert_eq!(single.iter().count(), 1);
    }
}
