//! Manifest, index and config parsing and conversion. See `rahti_migrate_fuzz::checks::manifest`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rahti_migrate_fuzz::checks::manifest(data));
