//! The Go-JSON parser against serde_json. See `rahti_migrate_fuzz::checks::gojson`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rahti_migrate_fuzz::checks::gojson(data));
