//! `WWW-Authenticate` parsing. See `rahti_migrate_fuzz::checks::challenge`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rahti_migrate_fuzz::checks::challenge(data));
