//! supervisord.conf → service files.
