//! Loading an arbitrary snapshot document and compiling it when it loads:
//! never panics.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(snapshot) = tollgate_config::load_bytes(data, None) {
        let _ = tollgate_core::compile(&snapshot);
    }
});
