//! [`Rare`]: a part of a spec that most services leave empty, held as one pointer.
//!
//! Every loaded service keeps its spec for as long as it is loaded, and a plain `cmd`
//! service leaves most of its fields at their defaults. Held inline, those empty fields
//! were most of each service's bytes in the core's map (bench/PROFILES.md, memory); behind
//! a `Rare` an empty part costs 8 bytes and no allocation, and reads go through `Deref` to
//! a shared empty value, so code that reads `spec.deps.requires` is unchanged.

use std::ops::{Deref, DerefMut};

/// A value that has an empty form all services without the field share.
pub trait Empty: Default + 'static {
    /// The shared empty value (what `Default` makes).
    fn empty() -> &'static Self;
}

/// `T`, boxed only when it is not empty.
#[derive(Clone, Default)]
pub struct Rare<T: Empty>(Option<Box<T>>);

impl<T: Empty + PartialEq> Rare<T> {
    /// Boxes `value` unless it is empty.
    pub fn new(value: T) -> Rare<T> {
        match value == T::default() {
            true => Rare(None),
            false => Rare(Some(Box::new(value))),
        }
    }
}

impl<T: Empty> Rare<T> {
    /// The value to change, if it was ever set: for a write that only clears (a reset, a
    /// `take`), which through `DerefMut` would box an empty value for nothing.
    pub fn boxed_mut(&mut self) -> Option<&mut T> {
        self.0.as_deref_mut()
    }

    /// Whether a value was boxed (for tests of writes that must not box).
    #[cfg(test)]
    pub fn is_boxed(&self) -> bool {
        self.0.is_some()
    }
}

impl<T: Empty + PartialEq> From<T> for Rare<T> {
    fn from(value: T) -> Rare<T> {
        Rare::new(value)
    }
}

impl<T: Empty> Deref for Rare<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.0.as_deref().unwrap_or_else(|| T::empty())
    }
}

/// A write boxes an empty value first. The core writes so to an instance's `seldom` part (a
/// stderr line, a drain, a restart time), and tests to specs; the parse makes each part of
/// a spec whole and then holds it through [`Rare::new`]. A write that only clears goes
/// through [`Rare::boxed_mut`] instead.
impl<T: Empty> DerefMut for Rare<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.0.get_or_insert_with(Box::default)
    }
}

/// Equal when the values are: an empty one boxed by a write equals one never boxed.
impl<T: Empty + PartialEq> PartialEq for Rare<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: Empty + std::fmt::Debug> std::fmt::Debug for Rare<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Deps;

    #[test]
    fn an_empty_value_is_not_boxed_and_reads_as_empty() {
        let deps = Rare::new(Deps::default());
        assert!(deps.0.is_none());
        assert!(deps.requires.is_empty());
    }

    #[test]
    fn a_value_with_something_in_it_is_kept() {
        let deps = Rare::new(Deps {
            after: vec!["db".to_string()],
            ..Deps::default()
        });
        assert_eq!(deps.after, ["db"]);
    }

    #[test]
    fn a_write_to_an_empty_value_is_kept_and_equality_ignores_the_box() {
        let mut deps = Rare::new(Deps::default());
        assert_eq!(deps, Rare::default());
        deps.wants.push("cache".to_string());
        assert_eq!(deps.wants, ["cache"]);
        assert_ne!(deps, Rare::default());
        deps.wants.clear();
        assert_eq!(deps, Rare::default());
    }

    #[test]
    fn a_clear_of_a_value_never_set_boxes_nothing() {
        let mut deps: Rare<Deps> = Rare::default();
        assert!(deps.boxed_mut().is_none());
        assert!(deps.0.is_none());
        deps.after.push("db".to_string());
        assert!(deps.boxed_mut().is_some_and(|d| d.after == ["db"]));
    }
}
