//! Fuzzes temporal_supervisor::fuzz::signal (see its documentation for what is checked).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = temporal_supervisor::fuzz::signal(data);
});
