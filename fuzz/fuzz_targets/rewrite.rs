//! The YAML rewriter. See `rahti_migrate_fuzz::checks::rewrite`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rahti_migrate_fuzz::checks::rewrite(data));
