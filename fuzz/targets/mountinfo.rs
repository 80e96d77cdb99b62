//! /proc/self/mountinfo as PID 1 reads it at shutdown: any bytes.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        for mount in taskmaster::init::parse_mountinfo(data) {
            // What shutdown does with each: its path (any bytes) and type.
            let _ = mount.target.as_os_str().len() + mount.fstype.len();
        }
    });
}
