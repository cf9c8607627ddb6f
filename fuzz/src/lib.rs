//! Fuzz targets for rahti-migrate; see `checks`.

pub mod checks;
