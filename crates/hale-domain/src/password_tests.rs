//! Tests of the password policy: each problem by example, the NFKC length, the common list and
//! its variations, and properties over arbitrary text.

use proptest::prelude::*;

use super::*;

fn check(password: &str) -> Result<(), PasswordProblem> {
    PasswordPolicy::default().check(password, &[])
}

#[test]
fn the_default_is_twelve_to_one_hundred_and_twenty_eight() {
    assert_eq!(
        PasswordPolicy::default(),
        PasswordPolicy {
            min_length: 12,
            max_length: 128
        }
    );
}

#[test]
fn good_passwords_are_accepted() {
    for password in [
        "correct horse battery staple",
        "violet-canyon-drift-42",
        "Ünïcödé pässwörd wins",
        "mañana llegará el tren",
        "7 kestrels over Leith",
    ] {
        assert_eq!(check(password), Ok(()), "{password}");
    }
}

#[test]
fn length_bounds_count_characters_after_nfkc() {
    assert_eq!(
        check("kestrel mol"),
        Err(PasswordProblem::TooShort { min: 12 })
    );
    assert_eq!(check("kestrel mole"), Ok(()));
    // Thirteen scalar values as sent, twelve after NFKC composes the accent.
    let decomposed = "kestrel mole\u{301}";
    assert_eq!(decomposed.chars().count(), 13);
    let exactly = |min_length, max_length| PasswordPolicy {
        min_length,
        max_length,
    };
    assert_eq!(exactly(12, 12).check(decomposed, &[]), Ok(()));
    assert_eq!(
        exactly(13, 20).check(decomposed, &[]),
        Err(PasswordProblem::TooShort { min: 13 })
    );
    // A ligature counts as the letters it stands for.
    assert_eq!(exactly(12, 12).check("kestrel \u{FB03}x", &[]), Ok(()));
    assert_eq!(
        PasswordPolicy::default().check(&"kestrel mole ".repeat(10), &[]),
        Err(PasswordProblem::TooLong { max: 128 })
    );
    let longest: String = "kestrel mole ".repeat(10).chars().take(128).collect();
    assert_eq!(check(&longest), Ok(()));
}

#[test]
fn huge_input_is_too_long_without_being_normalised() {
    let huge = "é".repeat(1 << 20);
    assert_eq!(check(&huge), Err(PasswordProblem::TooLong { max: 128 }));
    let control_and_huge = format!("{huge}\u{0}");
    assert_eq!(
        check(&control_and_huge),
        Err(PasswordProblem::TooLong { max: 128 })
    );
}

#[test]
fn control_characters_are_refused() {
    for password in [
        "correct horse\tbattery",
        "correct horse\nbattery",
        "correct horse\u{0}battery",
        "correct horse\u{7f}battery",
        "correct horse\u{85}battery",
    ] {
        assert_eq!(
            check(password),
            Err(PasswordProblem::ControlCharacter),
            "{password:?}"
        );
    }
}

#[test]
fn common_passwords_and_their_decorated_variations_are_refused() {
    for password in [
        "password1234",
        "Password123!",
        "PASSWORD!!!!1234",
        "qwertyuiop12",
        "iloveyou2024!",
        "!!!football!!!",
        "2024-sunshine-2024",
        "1qaz2wsx3edc",
        "LeaveMeAlone",
        "ｐａｓｓｗｏｒｄ１２３４",
    ] {
        assert_eq!(check(password), Err(PasswordProblem::Common), "{password}");
    }
}

#[test]
fn repetitions_and_runs_of_keys_are_refused() {
    for password in [
        "aaaaaaaaaaaa",
        "abababababab",
        "abcabcabcabc",
        "121212121212",
        "abcdefghijklm",
        "zyxwvutsrqpo",
        "123456789012",
        "9876543210987",
        "qwertyuiopas",
        "mnbvcxzlkjhg",
    ] {
        assert_eq!(check(password), Err(PasswordProblem::Common), "{password}");
    }
}

#[test]
fn the_list_is_shipped_whole_and_lower_case() {
    let list = common_passwords();
    assert_eq!(list.len(), 30_000);
    assert!(list.binary_search(&"password").is_ok());
    assert!(list.binary_search(&"pic's").is_ok());
    assert!(list.iter().all(|entry| !entry.is_empty()
        && entry.chars().all(|c| c.is_ascii_graphic())
        && entry.to_lowercase() == *entry));
}

#[test]
fn account_names_are_refused_inside_a_password() {
    let names = ["alice.smith@clinic.example", "Alice Smith", "asmith"];
    let policy = PasswordPolicy::default();
    for password in [
        "my name is alice, hello",
        "SmithFamily hiking",
        "xx-ASMITH-kestrel",
        "alice.smith@clinic.example!",
    ] {
        assert_eq!(
            policy.check(password, &names),
            Err(PasswordProblem::ContainsAccountName),
            "{password}"
        );
    }
    // The domain of an address, and names too short to tell, are not looked for.
    assert_eq!(policy.check("clinic example kestrel", &names), Ok(()));
    assert_eq!(policy.check("a pal in the valley", &["al", ""]), Ok(()));
    // Names are compared after NFKC and case folding too.
    assert_eq!(
        policy.check("hello ÉLODIE kestrel", &["e\u{301}lodie"]),
        Err(PasswordProblem::ContainsAccountName)
    );
}

#[test]
fn messages_say_what_to_do_and_never_repeat_the_password() {
    let problems = [
        ("kestrel", PasswordProblem::TooShort { min: 12 }),
        ("Password123!", PasswordProblem::Common),
        ("alice likes kestrels", PasswordProblem::ContainsAccountName),
        ("tab\tkestrel mole", PasswordProblem::ControlCharacter),
    ];
    for (password, expected) in problems {
        let problem = PasswordPolicy::default()
            .check(password, &["alice"])
            .unwrap_err();
        assert_eq!(problem, expected);
        let message = problem.to_string();
        assert!(!message.contains(password), "{message}");
        assert!(!message.to_lowercase().contains("alice"), "{message}");
    }
    assert!(
        PasswordProblem::TooShort { min: 12 }
            .to_string()
            .contains("at least 12")
    );
    assert!(
        PasswordProblem::TooLong { max: 128 }
            .to_string()
            .contains("at most 128")
    );
}

#[test]
fn normalise_password_is_nfkc() {
    assert_eq!(normalise_password("e\u{301}"), "é");
    assert_eq!(normalise_password("ｐａｓｓ１"), "pass1");
    assert_eq!(normalise_password("\u{FB03}"), "ffi");
}

fn listed_word() -> impl Strategy<Value = &'static str> {
    let words: Vec<&'static str> = common_passwords()
        .iter()
        .copied()
        .filter(|word| {
            word.starts_with(|c: char| c.is_ascii_alphabetic())
                && word.ends_with(|c: char| c.is_ascii_alphabetic())
        })
        .collect();
    prop::sample::select(words)
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(password in "\\PC{0,200}", name in "\\PC{0,20}") {
        let policy = PasswordPolicy::default();
        let verdict = policy.check(&password, &[&name]);
        prop_assert_eq!(verdict, policy.check(&password, &[&name]));
        if verdict.is_ok() {
            let length = normalise_password(&password).chars().count();
            prop_assert!((12..=128).contains(&length));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = PasswordPolicy::default().check(&text, &[&text]);
        let _ = PasswordPolicy { min_length: 0, max_length: 0 }.check(&text, &[]);
        let _ = PasswordPolicy { min_length: usize::MAX, max_length: usize::MAX }.check(&text, &[]);
    }

    #[test]
    fn a_listed_word_with_digits_and_symbols_around_it_is_common(
        word in listed_word(),
        before in "[0-9!@#$.]{0,4}",
        after in "[0-9!@#$.]{0,12}",
        upper in any::<bool>(),
    ) {
        let mut password = format!("{before}{word}{after}");
        while password.chars().count() < 12 {
            password.push('!');
        }
        if upper {
            password = password.to_uppercase();
        }
        prop_assert_eq!(check(&password), Err(PasswordProblem::Common));
    }
}
