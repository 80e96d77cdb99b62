//! Small sd_notify programs for the readiness tests, in Perl (perl-base is Essential on
//! Debian, so it is there wherever the tests run). The kernel attaches the sender's
//! credentials itself, so a plain `send` is exactly what a real daemon's sd_notify does.

use super::{set_mode, Harness};

/// The lines every script starts with: `notify("READY=1")`, `wait_for($file)`.
const PRELUDE: &str = r#"use strict; use warnings; use Socket; $| = 1;
sub notify {
    my ($text, $path) = @_;
    $path //= $ENV{NOTIFY_SOCKET} // die "no NOTIFY_SOCKET";
    socket(my $s, PF_UNIX, SOCK_DGRAM, 0) or die "socket: $!";
    send($s, $text, 0, pack_sockaddr_un($path)) or die "send to $path: $!";
}
sub wait_for { my ($file) = @_; select(undef, undef, undef, 0.01) until -e $file; }
sub write_file { my ($file, $text) = @_; open(my $f, '>', "$file.tmp") or die "$file: $!"; print $f $text; close $f; rename("$file.tmp", $file) or die; }
"#;

impl Harness {
    /// Writes `NAME.pl` (the prelude, then `body`) and returns a `cmd` line that runs it.
    pub fn perl_script(&self, name: &str, body: &str) -> String {
        let path = self.path(&format!("{name}.pl"));
        std::fs::write(&path, format!("{PRELUDE}{body}\n")).expect("write script");
        set_mode(&path, 0o644);
        format!(r#"cmd "/usr/bin/perl" "{}""#, path.display())
    }

    /// The notify socket the daemon binds beside its control socket.
    pub fn notify_socket(&self) -> String {
        self.socket.with_extension("notify").display().to_string()
    }
}
