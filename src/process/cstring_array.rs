//! A NULL-terminated `char *[]` for execve, built before fork.
//!
//! `nix::unistd::execve` builds this array itself, which allocates; after fork we may not, so
//! the child calls `libc::execve` with the array made here.

use std::borrow::Cow;
use std::ffi::{c_char, CStr, CString};

pub(super) struct CStringArray {
    /// Owns (or borrows for the program's life) the bytes the pointers point to; only held,
    /// never read or mutated after `new`, so the pointers stay valid while `self` lives,
    /// even when `self` moves (the heap buffers do not).
    _strings: Vec<Cow<'static, CStr>>,
    /// One pointer per string, then NULL.
    pointers: Vec<*const c_char>,
}

impl CStringArray {
    pub fn new(strings: Vec<CString>) -> CStringArray {
        CStringArray::of(strings.into_iter().map(Cow::Owned).collect())
    }

    /// The same, of strings some of which live as long as the program.
    pub fn of(strings: Vec<Cow<'static, CStr>>) -> CStringArray {
        let pointers = strings
            .iter()
            .map(|s| s.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect();
        CStringArray {
            _strings: strings,
            pointers,
        }
    }

    /// The same, with more entries whose bytes live elsewhere (the WATCHDOG_PID and
    /// LISTEN_PID slots the child fills in); they must stay valid as long as `self` is used.
    pub fn with_extra(strings: Vec<Cow<'static, CStr>>, extra: &[*const c_char]) -> CStringArray {
        let mut array = CStringArray::of(strings);
        let end = array.pointers.len() - 1;
        for (i, pointer) in extra.iter().enumerate() {
            array.pointers.insert(end + i, *pointer);
        }
        array
    }

    /// The `char *const[]` execve wants; valid while `self` lives.
    pub fn as_ptr(&self) -> *const *const c_char {
        self.pointers.as_ptr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_follow_the_strings_and_end_in_null() {
        let array = CStringArray::new(vec![c"a".to_owned(), c"bc".to_owned()]);
        let array = std::convert::identity(array); // moving keeps the pointers valid
                                                   // SAFETY: as_ptr points to 3 pointers: two into live CStrings, then NULL.
        unsafe {
            let p = array.as_ptr();
            assert_eq!(std::ffi::CStr::from_ptr(*p), c"a");
            assert_eq!(std::ffi::CStr::from_ptr(*p.add(1)), c"bc");
            assert!((*p.add(2)).is_null());
        }
    }
}
