//! `tail -f` followers and fast writers must never slow the daemon down.
