//! Journal replay. See `rahti_migrate_fuzz::checks::journal`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rahti_migrate_fuzz::checks::journal(data));
