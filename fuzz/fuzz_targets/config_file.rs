//! Fuzzes temporal_supervisor::fuzz::config_file (see its documentation for what is checked).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = temporal_supervisor::fuzz::config_file(data);
});
