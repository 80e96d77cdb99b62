//! A pseudo-terminal for the interactive shell: the program gets the slave side as its
//! controlling terminal; the test types into the master and reads what the program shows.

use super::TIMEOUT;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Pty {
    master: std::fs::File,
    /// Everything the program has written so far (escape sequences included).
    screen: Arc<Mutex<Vec<u8>>>,
    /// Where [`Pty::expect`] looks from: what earlier expectations consumed is skipped.
    mark: usize,
}

impl Pty {
    /// Runs `cmd` on a new pty (80x24, TERM=xterm) as the session leader with the pty as
    /// its controlling terminal.
    pub fn spawn(mut cmd: Command) -> (Pty, Child) {
        let (mut master, mut slave) = (0, 0);
        let size = libc::winsize {
            ws_row: 24,
            ws_col: 80,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: openpty writes two fds into our locals; the name and termios are optional.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                &size,
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both fds were just opened by openpty and are owned by nobody else.
        let (master, slave) =
            unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        let dup = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup pty slave"));
        cmd.stdin(dup(&slave))
            .stdout(dup(&slave))
            .stderr(dup(&slave))
            .env("TERM", "xterm");
        // SAFETY: setsid and ioctl are async-signal-safe; fd 0 is the pty slave here.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn on the pty");
        drop(slave);
        let master = std::fs::File::from(master);
        let screen = Arc::new(Mutex::new(Vec::new()));
        let mut reader = master.try_clone().expect("dup pty master");
        let sink = screen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // EIO once every holder of the slave side has gone.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().expect("screen").extend_from_slice(&buf[..n]);
            }
        });
        (
            Pty {
                master,
                screen,
                mark: 0,
            },
            child,
        )
    }

    /// Types `keys` (use `\r` for Enter, `\t` for Tab).
    pub fn send(&mut self, keys: &str) {
        self.master
            .write_all(keys.as_bytes())
            .expect("write to pty");
        self.master.flush().expect("flush pty");
    }

    /// Everything shown so far, as text.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.screen.lock().expect("screen")).into_owned()
    }

    /// Waits until `text` appears after what earlier expectations matched; moves past it.
    /// Returns what was shown from the previous mark to the end of the match.
    pub fn expect(&mut self, text: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let shown = self.screen();
            if let Some(at) = shown.get(self.mark..).and_then(|rest| rest.find(text)) {
                let end = self.mark + at + text.len();
                let seen = shown[self.mark..end].to_string();
                self.mark = end;
                return seen;
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out waiting for {text:?} on the terminal; it shows:\n{:?}",
                    shown.get(self.mark..).unwrap_or("")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn raw_fd(&self) -> i32 {
        self.master.as_raw_fd()
    }
}
