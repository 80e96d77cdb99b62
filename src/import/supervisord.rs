//! supervisord.conf → service files.

use std::path::Path;

use super::{ImportError, Imported};

pub fn import_supervisord(path: &Path) -> Result<Imported, ImportError> {
    Err(ImportError::Invalid {
        path: path.to_path_buf(),
        message: "not yet".into(),
    })
}
