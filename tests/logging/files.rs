//! Output files: rotation by size, reopening after logrotate, and a big writer copied to
//! the byte, through the daemon (rotated) and straight (direct fd).
