//! The home directory the password database gives this process's user: where the shell
//! keeps its history when it was started without `$HOME` (a console, `env -i`).
//!
//! tmctl is linked statically (build.rs says why). A static glibc has the NSS modules
//! `files` and `dns` built in and reaches any other (`systemd`, `sss`, `ldap`) only by
//! loading it with its own `dlopen`, which brings the system's shared libc into the process
//! beside the one linked in. On Debian 12 that crashes the process even with the very glibc
//! it was linked with (2.36): `passwd: files systemd` in nsswitch.conf and a uid that is not
//! in /etc/passwd give a SIGSEGV inside the load of libnss_systemd.so.2, as they do to a
//! static C program that calls `getpwuid`. So a process that runs without a dynamic loader
//! asks the built-in `files` module only: a user of /etc/passwd gets their home, any other
//! none (the shell then keeps no history and says so) rather than a crash.

use std::ffi::OsString;

pub fn home_of_current_user() -> Option<OsString> {
    if !has_dynamic_loader() {
        passwd_from_builtin_files_only();
    }
    let user = nix::unistd::User::from_uid(nix::unistd::getuid()).ok()??;
    Some(user.dir.into_os_string())
}

/// Whether a dynamic loader started this process: the auxiliary vector's `AT_BASE` is the
/// loader's address, 0 in a statically linked program.
fn has_dynamic_loader() -> bool {
    // SAFETY: getauxval only reads the auxiliary vector the kernel gave the process.
    unsafe { libc::getauxval(libc::AT_BASE) != 0 }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn passwd_from_builtin_files_only() {
    // glibc's <nss.h>, for programs that "have to work around non-existing services"; the
    // libc crate does not declare it.
    unsafe extern "C" {
        fn __nss_configure_lookup(
            dbname: *const libc::c_char,
            service_line: *const libc::c_char,
        ) -> libc::c_int;
    }
    // SAFETY: two NUL-terminated strings that outlive the call. It replaces the process's
    // selection for one database (glibc keeps the old one, a few bytes, for good), and runs
    // once, before the lookup, in tmctl's one thread.
    unsafe { __nss_configure_lookup(c"passwd".as_ptr(), c"files".as_ptr()) };
}

/// Other C libraries: no NSS modules to load, nothing to restrict.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn passwd_from_builtin_files_only() {}
