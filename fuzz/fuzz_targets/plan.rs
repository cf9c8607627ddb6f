//! The plan parser. See `rahti_migrate_fuzz::checks::plan`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rahti_migrate_fuzz::checks::plan(data));
