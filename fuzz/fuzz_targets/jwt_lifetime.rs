#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    rpa_auth::fuzzing::jwt_lifetime(data);
});
