//! A service's instances by index, in index order: a vector sorted by index.
//!
//! Most services have one instance. A `BTreeMap` gave each a leaf node with room for eleven
//! (144 bytes) besides the boxed instance; here a one-instance service holds one block of
//! exactly one instance (bench/PROFILES.md, memory). Indices are few (`numprocs`) and change
//! only at a reload, so a binary search finds an instance and an insert shifts a few.

use super::instance::Instance;

#[derive(Debug, Default)]
pub(super) struct InstanceMap(Vec<(u32, Instance)>);

impl InstanceMap {
    /// Indices `0..count`, each a new instance.
    pub fn numbered(count: u32) -> InstanceMap {
        InstanceMap((0..count).map(|index| (index, Instance::new())).collect())
    }

    fn position(&self, index: u32) -> Result<usize, usize> {
        self.0.binary_search_by_key(&index, |(at, _)| *at)
    }

    pub fn get(&self, index: &u32) -> Option<&Instance> {
        let at = self.position(*index).ok()?;
        Some(&self.0[at].1)
    }

    pub fn get_mut(&mut self, index: &u32) -> Option<&mut Instance> {
        let at = self.position(*index).ok()?;
        Some(&mut self.0[at].1)
    }

    pub fn contains_key(&self, index: &u32) -> bool {
        self.position(*index).is_ok()
    }

    /// The instance at `index`, a new one if there is none.
    pub fn get_or_insert_new(&mut self, index: u32) -> &mut Instance {
        let at = match self.position(index) {
            Ok(at) => at,
            Err(at) => {
                self.0.insert(at, (index, Instance::new()));
                at
            }
        };
        &mut self.0[at].1
    }

    pub fn remove(&mut self, index: &u32) -> Option<Instance> {
        let at = self.position(*index).ok()?;
        Some(self.0.remove(at).1)
    }

    /// Keeps the instances for which `keep` says so.
    pub fn retain(&mut self, mut keep: impl FnMut(&u32, &mut Instance) -> bool) {
        self.0.retain_mut(|(index, instance)| keep(index, instance));
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&u32, &Instance)> + Clone {
        self.0.iter().map(|(index, instance)| (index, instance))
    }

    pub fn iter_mut(&mut self) -> impl DoubleEndedIterator<Item = (&u32, &mut Instance)> {
        self.0
            .iter_mut()
            .map(|(index, instance)| (&*index, instance))
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &u32> + Clone {
        self.0.iter().map(|(index, _)| index)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Instance> + Clone {
        self.0.iter().map(|(_, instance)| instance)
    }

    pub fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut Instance> {
        self.0.iter_mut().map(|(_, instance)| instance)
    }
}

impl<'a> IntoIterator for &'a InstanceMap {
    type Item = (&'a u32, &'a Instance);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (u32, Instance)>,
        fn(&'a (u32, Instance)) -> (&'a u32, &'a Instance),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(index, instance)| (index, instance))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_are_found_by_index_and_kept_in_index_order() {
        let mut map = InstanceMap::numbered(2);
        map.get_or_insert_new(5).retiring = true;
        map.get_or_insert_new(3);
        assert!(
            !map.get_or_insert_new(0).retiring,
            "an existing one is kept"
        );
        assert_eq!(map.keys().copied().collect::<Vec<_>>(), [0, 1, 3, 5]);
        assert!(map.get(&5).is_some_and(|i| i.retiring));
        assert!(map.get(&4).is_none());
        assert!(map.remove(&1).is_some());
        assert!(!map.contains_key(&1));
        assert_eq!(map.keys().copied().collect::<Vec<_>>(), [0, 3, 5]);
    }
}
