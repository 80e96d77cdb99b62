//! The control socket: protocol types shared by `taskmasterd` and `tmctl`, and the client side.

pub mod proto;
