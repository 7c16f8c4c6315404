#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    rpa_auth::fuzzing::oauth_token(data);
});
