//! `limits` entries as setrlimit(2) wants them.

use crate::config::{Limit, LimitKind};

/// One limit, converted before fork.
pub(super) struct PreparedLimit {
    pub resource: libc::__rlimit_resource_t,
    pub value: libc::rlimit,
    /// As written in the service file, for messages.
    pub limit: Limit,
}

impl PreparedLimit {
    pub fn new(limit: Limit) -> PreparedLimit {
        PreparedLimit {
            resource: resource(limit.resource),
            // rlim_t is u64 on Linux; u64::MAX is RLIM_INFINITY.
            value: libc::rlimit {
                rlim_cur: limit.soft,
                rlim_max: limit.hard,
            },
            limit,
        }
    }

    /// `nofile 1024 4096`, for messages.
    pub fn describe(&self) -> String {
        format!(
            "{} {} {}",
            name(self.limit.resource),
            self.limit.soft,
            self.limit.hard
        )
    }
}

fn resource(kind: LimitKind) -> libc::__rlimit_resource_t {
    match kind {
        LimitKind::Nofile => libc::RLIMIT_NOFILE,
        LimitKind::Nproc => libc::RLIMIT_NPROC,
        LimitKind::Core => libc::RLIMIT_CORE,
        LimitKind::Cpu => libc::RLIMIT_CPU,
        LimitKind::Fsize => libc::RLIMIT_FSIZE,
        LimitKind::Data => libc::RLIMIT_DATA,
        LimitKind::Stack => libc::RLIMIT_STACK,
        LimitKind::As => libc::RLIMIT_AS,
        LimitKind::Memlock => libc::RLIMIT_MEMLOCK,
        LimitKind::Rss => libc::RLIMIT_RSS,
    }
}

/// The name used in service files.
fn name(kind: LimitKind) -> &'static str {
    match kind {
        LimitKind::Nofile => "nofile",
        LimitKind::Nproc => "nproc",
        LimitKind::Core => "core",
        LimitKind::Cpu => "cpu",
        LimitKind::Fsize => "fsize",
        LimitKind::Data => "data",
        LimitKind::Stack => "stack",
        LimitKind::As => "as",
        LimitKind::Memlock => "memlock",
        LimitKind::Rss => "rss",
    }
}
