//! A peer's identity line (`vigilo peer add LINE`, `PeerIdentity::parse_line`), pasted by an
//! admin from a message the other regulator sent.
//!
//! Invariants: no panic; an error is a typed `IdentityError` that displays; an accepted line
//! prints back to a line that parses to the same identity and prints the same again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigilo_core::federation::PeerIdentity;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    match PeerIdentity::parse_line(line) {
        Ok(id) => {
            let printed = id.to_line();
            let again = PeerIdentity::parse_line(&printed).expect("a printed line parses");
            assert_eq!(again, id);
            assert_eq!(again.to_line(), printed);
            assert_eq!(again.key_id(), id.public_key.key_id());
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
