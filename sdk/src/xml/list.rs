//! [`List`]: the value of a list-typed link.

/// The value of a list-typed link (`vm.nics`): the items, when the server
/// inlined them (`follow`), and the link's `href`, when it announced the list
/// with `<link rel=".." href=".."/>` ([wire rule](crate::wire) R3.6).
///
/// Dereferences to a slice of the items.
#[derive(Debug, Clone, PartialEq)]
pub struct List<T> {
    /// Where the list can be fetched, if the server said.
    pub href: Option<String>,
    /// Items read inline (empty when the server only sent the link).
    pub items: Vec<T>,
}

impl<T> Default for List<T> {
    fn default() -> Self {
        List {
            href: None,
            items: Vec::new(),
        }
    }
}

impl<T> List<T> {
    /// A list of these items, without href.
    pub fn new(items: Vec<T>) -> Self {
        List { href: None, items }
    }

    /// A list known only by its href (not fetched).
    pub fn from_href(href: impl Into<String>) -> Self {
        List {
            href: Some(href.into()),
            items: Vec::new(),
        }
    }
}

impl<T> std::ops::Deref for List<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.items
    }
}

impl<T> std::ops::DerefMut for List<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.items
    }
}

impl<T> From<Vec<T>> for List<T> {
    fn from(items: Vec<T>) -> Self {
        List::new(items)
    }
}

impl<T> FromIterator<T> for List<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        List::new(iter.into_iter().collect())
    }
}

impl<T> IntoIterator for List<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

impl<'a, T> IntoIterator for &'a List<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}
