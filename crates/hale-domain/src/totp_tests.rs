//! Tests of TOTP and recovery codes: the RFC 4226 and RFC 6238 vectors, the acceptance window
//! and its edges, replay refusal, malformed input, and properties of the encodings.

use proptest::prelude::*;

use super::*;

const SECONDS: i64 = 1_000_000;

fn rfc_secret() -> TotpSecret {
    TotpSecret::from_bytes(*b"12345678901234567890")
}

fn at_seconds(seconds: i64) -> Timestamp {
    Timestamp::from_micros(seconds * SECONDS)
}

fn code_at(secret: &TotpSecret, step: i64) -> String {
    totp_code(secret, TotpStep(step)).unwrap()
}

#[test]
fn hotp_matches_rfc_4226_appendix_d() {
    let expected = [
        "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871",
        "520489",
    ];
    for (counter, code) in expected.into_iter().enumerate() {
        assert_eq!(code_at(&rfc_secret(), counter as i64), code);
    }
}

#[test]
fn totp_matches_rfc_6238_appendix_b_for_sha1() {
    let vectors: [(i64, u32); 6] = [
        (59, 94_287_082),
        (1_111_111_109, 7_081_804),
        (1_111_111_111, 14_050_471),
        (1_234_567_890, 89_005_924),
        (2_000_000_000, 69_279_037),
        (20_000_000_000, 65_353_130),
    ];
    let secret = rfc_secret();
    for (seconds, eight_digits) in vectors {
        let step = TotpStep::at(at_seconds(seconds));
        assert_eq!(step.0, seconds / 30);
        let counter = u64::try_from(step.0).unwrap();
        assert_eq!(
            hotp_truncated(&secret, counter).unwrap() % 100_000_000,
            eight_digits
        );
        // Six digits are the last six of the eight.
        let six = format!("{:06}", eight_digits % 1_000_000);
        assert_eq!(code_at(&secret, step.0), six);
        assert_eq!(
            verify_totp(&secret, &six, at_seconds(seconds), None),
            Ok(step)
        );
    }
}

#[test]
fn one_step_either_side_is_accepted_and_no_further() {
    let secret = rfc_secret();
    let now = at_seconds(1_234_567_890);
    let current = TotpStep::at(now).0;
    for offset in [-1, 0, 1] {
        let code = code_at(&secret, current + offset);
        assert_eq!(
            verify_totp(&secret, &code, now, None),
            Ok(TotpStep(current + offset)),
            "offset {offset}"
        );
    }
    for offset in [-3, -2, 2, 3] {
        let code = code_at(&secret, current + offset);
        assert_eq!(
            verify_totp(&secret, &code, now, None),
            Err(TotpError::Wrong),
            "offset {offset}"
        );
    }
}

#[test]
fn the_window_moves_at_the_step_boundary() {
    let secret = rfc_secret();
    let step = 41_152_263;
    let first_micro = Timestamp::from_micros(step * 30 * SECONDS);
    let last_micro = Timestamp::from_micros((step + 1) * 30 * SECONDS - 1);
    assert_eq!(TotpStep::at(first_micro), TotpStep(step));
    assert_eq!(TotpStep::at(last_micro), TotpStep(step));
    let old = code_at(&secret, step - 1);
    assert_eq!(
        verify_totp(&secret, &old, last_micro, None),
        Ok(TotpStep(step - 1))
    );
    let one_micro_later = last_micro.plus_micros(1);
    assert_eq!(TotpStep::at(one_micro_later), TotpStep(step + 1));
    assert_eq!(
        verify_totp(&secret, &old, one_micro_later, None),
        Err(TotpError::Wrong)
    );
}

#[test]
fn a_code_is_never_accepted_twice_nor_an_older_one() {
    let secret = rfc_secret();
    let now = at_seconds(2_000_000_000);
    let current = TotpStep::at(now);
    let code = code_at(&secret, current.0);
    let used = verify_totp(&secret, &code, now, None).unwrap();
    assert_eq!(used, current);
    assert_eq!(
        verify_totp(&secret, &code, now, Some(used)),
        Err(TotpError::Replayed)
    );
    let previous = code_at(&secret, current.0 - 1);
    assert_eq!(
        verify_totp(&secret, &previous, now, Some(used)),
        Err(TotpError::Replayed)
    );
    // A later step in the window is still fine, and then bars the current one.
    let next = code_at(&secret, current.0 + 1);
    let later = verify_totp(&secret, &next, now, Some(used)).unwrap();
    assert_eq!(later, TotpStep(current.0 + 1));
    assert_eq!(
        verify_totp(&secret, &code, now, Some(later)),
        Err(TotpError::Replayed)
    );
    // A wrong code stays wrong whatever was used before.
    let wrong = if code == "000000" { "000001" } else { "000000" };
    assert_eq!(
        verify_totp(&secret, wrong, now, Some(used)),
        Err(TotpError::Wrong)
    );
}

#[test]
fn codes_must_be_six_ascii_digits_with_spaces_ignored() {
    let secret = rfc_secret();
    let now = at_seconds(59);
    let code = code_at(&secret, 1);
    assert_eq!(code, "287082");
    for accepted in ["287082", "287 082", " 287082 ", "2 8 7 0 8 2"] {
        assert_eq!(
            verify_totp(&secret, accepted, now, None),
            Ok(TotpStep(1)),
            "{accepted:?}"
        );
    }
    let too_long = "2".repeat(10_000);
    for malformed in [
        "",
        "      ",
        "28708",
        "2870822",
        "28708a",
        "287-082",
        "+28708",
        "287082\t",
        "２８７０８２",
        "٢٨٧٠٨٢",
        "0x1234",
        too_long.as_str(),
    ] {
        assert_eq!(
            verify_totp(&secret, malformed, now, None),
            Err(TotpError::Malformed),
            "{malformed:?}"
        );
    }
}

#[test]
fn before_the_epoch_there_is_no_code() {
    let secret = rfc_secret();
    assert_eq!(TotpStep::at(Timestamp::from_micros(-1)), TotpStep(-1));
    assert_eq!(totp_code(&secret, TotpStep(-1)), None);
    assert_eq!(
        verify_totp(&secret, "000000", Timestamp::from_micros(i64::MIN), None),
        Err(TotpError::Wrong)
    );
    let far = Timestamp::from_micros(i64::MAX);
    let code = code_at(&secret, TotpStep::at(far).0);
    assert_eq!(
        verify_totp(&secret, &code, far, None),
        Ok(TotpStep::at(far))
    );
}

#[test]
fn base32_reads_as_apps_and_people_write_it() {
    let secret = rfc_secret();
    assert_eq!(secret.to_base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    for text in [
        "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
        "gezdgnbvgy3tqojqgezdgnbvgy3tqojq",
        "gezd gnbv gy3t qojq gezd gnbv gy3t qojq",
        "GEZD-GNBV-GY3T-QOJQ-GEZD-GNBV-GY3T-QOJQ",
        "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ====",
    ] {
        let read = TotpSecret::from_base32(text).unwrap();
        assert_eq!(read.expose_bytes(), secret.expose_bytes(), "{text}");
    }
    let long = "A".repeat(1000);
    for text in [
        "",
        "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ",
        "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQA",
        "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBV",
        "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ1",
        "GEZDGNBVGY3TQOJQ=GEZDGNBVGY3TQOJQ",
        "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJÄ",
        long.as_str(),
    ] {
        assert!(TotpSecret::from_base32(text).is_err(), "{text}");
        assert_eq!(
            TotpSecret::from_base32(text).err(),
            Some(TotpError::Malformed)
        );
    }
}

#[test]
fn debug_output_never_shows_a_secret_or_a_code() {
    let secret = rfc_secret();
    let shown = format!("{secret:?}");
    assert_eq!(shown, "TotpSecret([redacted])");
    let code = recovery_code_from_bytes([7; 10]);
    assert_eq!(format!("{code:?}"), "RecoveryCode([redacted])");
    assert!(!format!("{code:?}").contains(code.expose()));
}

#[test]
fn the_otpauth_uri_encodes_issuer_and_account() {
    let uri = rfc_secret().otpauth_uri("Hale Clinic", "alice@example.org");
    assert_eq!(
        uri,
        "otpauth://totp/Hale%20Clinic:alice%40example.org?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
         &issuer=Hale%20Clinic&algorithm=SHA1&digits=6&period=30"
    );
    let hostile = rfc_secret().otpauth_uri("a:b&secret=AAAA", "x?y#z/é");
    assert!(hostile.starts_with("otpauth://totp/a%3Ab%26secret%3DAAAA:x%3Fy%23z%2F%C3%A9?secret="));
    assert_eq!(hostile.matches("secret=").count(), 1);
}

#[test]
fn recovery_codes_are_three_groups_of_four_unambiguous_characters() {
    assert_eq!(recovery_code_from_bytes([0; 10]).expose(), "0000-0000-0000");
    assert_eq!(
        recovery_code_from_bytes([0xff; 10]).expose(),
        "zzzz-zzzz-zzzz"
    );
    // 0x08 0x86 0x42 … : the first 60 bits are 00001 00010 00011 …
    let bytes = [0x08, 0x86, 0x42, 0x98, 0xe8, 0x4a, 0x96, 0xc6, 0, 0];
    assert_eq!(recovery_code_from_bytes(bytes).expose(), "1234-5678-9abc");
    assert_eq!(RECOVERY_CODE_COUNT, 10);
}

#[test]
fn recovery_code_hashes_ignore_case_dashes_spaces_and_look_alikes() {
    let code = recovery_code_from_bytes([0; 10]);
    let stored = code.hash();
    assert_eq!(
        stored,
        "f7b11509f4d675c3c44f0dd37ca830bb02e8cfa58f04c46283c4bfcbdce1ff45"
    );
    for typed in [
        "0000-0000-0000",
        "000000000000",
        "0000 0000 0000",
        "OOOO-oooo-0000",
    ] {
        assert!(recovery_code_matches(typed, &stored), "{typed}");
    }
    let other = recovery_code_from_bytes([0x08, 0x86, 0x42, 0x98, 0xe8, 0x4a, 0x96, 0xc6, 0, 0]);
    assert!(recovery_code_matches("1234-5678-9ABC", &other.hash()));
    assert!(recovery_code_matches("i234-5678-9abc", &other.hash()));
    assert!(recovery_code_matches("l234 5678 9abc", &other.hash()));
    assert!(!recovery_code_matches("1234-5678-9abd", &other.hash()));
    assert!(!recovery_code_matches("0000-0000-0000", &other.hash()));
    assert!(!recovery_code_matches("0000-0000-0000", ""));
    assert!(!recovery_code_matches(
        "0000-0000-0000",
        &stored.to_uppercase()
    ));
    assert!(!recovery_code_matches("0000-0000-0000", &stored[..63]));
}

proptest! {
    #[test]
    fn base32_round_trips(bytes in any::<[u8; 20]>(), lower in any::<bool>(), gap in 0usize..8) {
        let secret = TotpSecret::from_bytes(bytes);
        let mut text = secret.to_base32();
        prop_assert_eq!(text.len(), 32);
        if lower {
            text = text.to_lowercase();
        }
        if gap > 0 {
            text = text
                .as_bytes()
                .chunks(gap)
                .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
                .collect::<Vec<_>>()
                .join(" ");
        }
        let read = TotpSecret::from_base32(&text).unwrap();
        prop_assert_eq!(read.expose_bytes(), &bytes);
    }

    #[test]
    fn arbitrary_input_never_panics(text in "\\PC{0,80}|[A-Za-z2-7 =-]{0,80}|[0-9 ]{0,12}", micros in any::<i64>(), last in any::<Option<i64>>()) {
        let secret = TotpSecret::from_base32(&text).unwrap_or_else(|_| rfc_secret());
        let verdict = verify_totp(&secret, &text, Timestamp::from_micros(micros), last.map(TotpStep));
        if let Ok(step) = verdict {
            prop_assert!(last.is_none_or(|last| step.0 > last));
            prop_assert!((step.0 - TotpStep::at(Timestamp::from_micros(micros)).0).abs() <= 1);
        }
        let _ = recovery_code_matches(&text, &text);
    }

    #[test]
    fn the_current_code_is_accepted_once(bytes in any::<[u8; 20]>(), seconds in 0i64..4_000_000_000) {
        let secret = TotpSecret::from_bytes(bytes);
        let now = at_seconds(seconds);
        let code = code_at(&secret, TotpStep::at(now).0);
        prop_assert_eq!(code.len(), 6);
        let used = verify_totp(&secret, &code, now, None).unwrap();
        prop_assert_eq!(verify_totp(&secret, &code, now, Some(used)), Err(TotpError::Replayed));
    }

    #[test]
    fn recovery_codes_have_their_format_and_match_their_hash(bytes in any::<[u8; 10]>()) {
        let code = recovery_code_from_bytes(bytes);
        let text = code.expose();
        prop_assert_eq!(text.len(), 14);
        for (position, character) in text.chars().enumerate() {
            if position == 4 || position == 9 {
                prop_assert_eq!(character, '-');
            } else {
                prop_assert!(RECOVERY_ALPHABET.contains(&(character as u8)));
                prop_assert!(!"ilou".contains(character));
            }
        }
        let stored = code.hash();
        prop_assert_eq!(stored.len(), 64);
        prop_assert!(stored.bytes().all(|byte| byte.is_ascii_hexdigit() && !byte.is_ascii_uppercase()));
        prop_assert!(recovery_code_matches(text, &stored));
        prop_assert!(recovery_code_matches(&text.to_uppercase().replace('-', " "), &stored));
    }
}
