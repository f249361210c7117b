//! Fuzzes temporal_supervisor::fuzz::address (see its documentation for what is checked).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = temporal_supervisor::fuzz::address(data);
});
