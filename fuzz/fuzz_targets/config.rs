#![no_main]
//! The config loader on any text: it returns a config or errors that say what is wrong, and
//! never panics.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = std::path::Path::new("/nonexistent/fuzz.yml");
    match promshard::config::load_str(text, path) {
        Ok(_) => {}
        Err(e) => assert!(!e.to_string().is_empty(), "an error says what is wrong"),
    }
});
