//! hale-oidc against a real OpenID provider (npm `oidc-provider`, started per test by
//! `hale_oidc::testing::TestProvider`): real access tokens accepted, hostile ones refused with
//! the right error, the JWKS refetch bounded, and sign-in end to end with its refusals.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hale_oidc::testing::{AUDIENCE, SERVICE_CLIENT_ID, TestProvider};
use hale_oidc::{
    Algorithm, IssuerConfig, LoginError, PendingLogin, RelyingParty, TokenError, Verifier,
    looks_like_jwt,
};
use proptest::prelude::*;
use reqwest::Url;
use serde_json::{Map, Value, json};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn verifier_for(provider: &TestProvider, change: impl FnOnce(&mut IssuerConfig)) -> Verifier {
    let mut config = provider.issuer_config();
    change(&mut config);
    Verifier::new(vec![config]).unwrap()
}

fn with(mut claims: Map<String, Value>, key: &str, value: Value) -> Map<String, Value> {
    claims.insert(key.to_owned(), value);
    claims
}

fn segment(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

fn unsigned(kid: &str, claims: &Map<String, Value>) -> String {
    let header = json!({"alg": "none", "typ": "at+jwt", "kid": kid});
    format!(
        "{}.{}.",
        segment(&header),
        segment(&Value::Object(claims.clone()))
    )
}

/// The classic key-confusion forgery: HS256 "signed" with the issuer's public key as secret.
fn hmac_with_public_key(provider: &TestProvider, claims: &Map<String, Value>) -> String {
    let mut header = jsonwebtoken::Header::new(Algorithm::HS256);
    header.kid = Some(provider.kid.clone());
    let key = jsonwebtoken::EncodingKey::from_secret(provider.public_key_pem.as_bytes()).unwrap();
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

#[tokio::test]
async fn a_real_access_token_is_accepted_with_its_claims_and_scope() {
    let Some(provider) = TestProvider::start().await else {
        return;
    };
    let verifier = verifier_for(&provider, |_| {});
    let token = provider
        .client_credentials_token("system/*.rs system/Patient.rs")
        .await;
    assert!(looks_like_jwt(&token));
    let verified = verifier.verify(&token).await.unwrap();
    assert_eq!(verified.issuer, provider.issuer);
    assert_eq!(verified.subject, SERVICE_CLIENT_ID);
    assert_eq!(
        verified.scope.as_deref(),
        Some("system/*.rs system/Patient.rs")
    );
    assert_eq!(verified.claims["client_id"], json!(SERVICE_CLIENT_ID));
    assert_eq!(verified.claims["aud"], json!(AUDIENCE));
    assert!(verified.expires_at > now());
    assert!(
        verified
            .issued_at
            .is_some_and(|iat| iat <= verified.expires_at)
    );
    assert!(verified.jwt_id.is_some());
    // Minted with the provider's own key, a token verifies the same way.
    let minted = provider.sign(&provider.access_token_claims());
    assert_eq!(
        verifier.verify(&minted).await.unwrap().subject,
        SERVICE_CLIENT_ID
    );
}

#[tokio::test]
async fn hostile_tokens_are_refused_with_the_right_error() {
    let Some(provider) = TestProvider::start().await else {
        return;
    };
    let verifier = verifier_for(&provider, |_| {});
    let valid = provider.access_token_claims();
    let real = provider.client_credentials_token("system/*.rs").await;
    let (signing_input, _) = real.rsplit_once('.').unwrap();
    let (header, _) = signing_input.split_once('.').unwrap();
    let forged_claims = with(valid.clone(), "scope", json!("system/*.cruds"));
    let tampered = format!(
        "{header}.{}.{}",
        segment(&Value::Object(forged_claims)),
        real.rsplit_once('.').unwrap().1
    );
    let es256_header = json!({"alg": "ES256", "kid": provider.kid});
    let wrong_key_type = format!(
        "{}.{}.{}",
        segment(&es256_header),
        segment(&Value::Object(valid.clone())),
        URL_SAFE_NO_PAD.encode([7_u8; 64])
    );
    let mut no_exp = valid.clone();
    no_exp.remove("exp");
    let cases: Vec<(&str, String, TokenError)> = vec![
        (
            "wrong audience",
            provider.sign(&with(valid.clone(), "aud", json!("someone-else"))),
            TokenError::WrongAudience,
        ),
        (
            "expired",
            provider.sign(&with(
                with(valid.clone(), "exp", json!(now() - 3600)),
                "iat",
                json!(now() - 7200),
            )),
            TokenError::Expired,
        ),
        (
            "wrong issuer",
            provider.sign(&with(valid.clone(), "iss", json!("https://evil.example"))),
            TokenError::UnknownIssuer,
        ),
        (
            "issuer with a trailing slash",
            provider.sign(&with(
                valid.clone(),
                "iss",
                json!(format!("{}/", provider.issuer)),
            )),
            TokenError::UnknownIssuer,
        ),
        (
            "alg none",
            unsigned(&provider.kid, &valid),
            TokenError::DisallowedAlgorithm,
        ),
        (
            "HS256 keyed with the public key",
            hmac_with_public_key(&provider, &valid),
            TokenError::DisallowedAlgorithm,
        ),
        (
            "ES256 naming the RSA key",
            wrong_key_type,
            TokenError::DisallowedAlgorithm,
        ),
        (
            "unknown kid",
            provider.sign_with_unpublished_key("never-published", &valid),
            TokenError::UnknownKey,
        ),
        (
            "another key under the provider's kid",
            provider.sign_with_unpublished_key(&provider.kid, &valid),
            TokenError::BadSignature,
        ),
        ("tampered claims", tampered, TokenError::BadSignature),
        (
            "not valid before the future",
            provider.sign(&with(valid.clone(), "nbf", json!(now() + 3600))),
            TokenError::NotYetValid,
        ),
        (
            "no expiry",
            provider.sign(&no_exp),
            TokenError::MissingClaim("exp"),
        ),
        ("garbage", "garbage".to_owned(), TokenError::Malformed),
        (
            "three dots of garbage",
            "a.b.c".to_owned(),
            TokenError::Malformed,
        ),
        ("empty", String::new(), TokenError::Malformed),
        (
            "oversized",
            format!("{real}{}", "A".repeat(9000)),
            TokenError::Malformed,
        ),
    ];
    for (name, token, expected) in cases {
        let refused = verifier.verify(&token).await;
        assert_eq!(refused.as_ref().err(), Some(&expected), "{name}");
        let error = refused.unwrap_err();
        if !token.is_empty() {
            assert!(!format!("{error} {error:?}").contains(&token), "{name}");
        }
    }
    // A real token whose algorithm the issuer's allow-list leaves out.
    let ps256_only = verifier_for(&provider, |c| c.algorithms = vec![Algorithm::PS256]);
    assert_eq!(
        ps256_only.verify(&real).await.err(),
        Some(TokenError::DisallowedAlgorithm)
    );
    // A verifier for another audience refuses the provider's real token.
    let other = verifier_for(&provider, |c| c.audience = "another-api".into());
    assert_eq!(
        other.verify(&real).await.err(),
        Some(TokenError::WrongAudience)
    );
    // And the valid one still passes after all that.
    assert!(verifier.verify(&real).await.is_ok());
}

#[tokio::test]
async fn an_unknown_kid_refetches_the_jwks_at_most_once_per_interval() {
    let Some(provider) = TestProvider::start().await else {
        return;
    };
    let real = provider.client_credentials_token("system/*.rs").await;
    let claims = provider.access_token_claims();
    let random_kid =
        |i: usize| provider.sign_with_unpublished_key(&format!("made-up-{i}"), &claims);

    // Concurrent first uses share one fetch.
    let patient = verifier_for(&provider, |c| c.jwks_min_refresh_seconds = 3600);
    let results = futures::future::join_all((0..16).map(|_| patient.verify(&real))).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(provider.jwks_fetches().await, 1);
    assert_eq!(provider.discovery_fetches().await, 1);

    // A flood of made-up kids within the interval fetches nothing more.
    for i in 0..20 {
        assert_eq!(
            patient.verify(&random_kid(i)).await.err(),
            Some(TokenError::UnknownKey)
        );
    }
    let flood = futures::future::join_all((20..40).map(|i| {
        let token = random_kid(i);
        let patient = patient.clone();
        async move { patient.verify(&token).await }
    }))
    .await;
    assert!(flood.iter().all(|r| r == &Err(TokenError::UnknownKey)));
    assert_eq!(provider.jwks_fetches().await, 1);
    assert!(patient.verify(&real).await.is_ok());

    // With no minimum interval, each unknown kid refetches once (a key rotation is picked up).
    let eager = verifier_for(&provider, |c| c.jwks_min_refresh_seconds = 0);
    assert!(eager.verify(&real).await.is_ok());
    assert_eq!(provider.jwks_fetches().await, 2);
    for i in 0..3 {
        assert_eq!(
            eager.verify(&random_kid(100 + i)).await.err(),
            Some(TokenError::UnknownKey)
        );
    }
    assert_eq!(provider.jwks_fetches().await, 5);
}

#[tokio::test]
async fn keys_already_fetched_keep_verifying_while_the_provider_is_down() {
    let Some(provider) = TestProvider::start().await else {
        return;
    };
    // Keys are stale at once and may be refetched at any time: every verify tries the provider.
    let verifier = verifier_for(&provider, |c| {
        c.jwks_max_age_seconds = 0;
        c.jwks_min_refresh_seconds = 0;
    });
    let token = provider.sign(&provider.access_token_claims());
    let stranger =
        provider.sign_with_unpublished_key("rotated-in", &provider.access_token_claims());
    assert!(verifier.verify(&token).await.is_ok());
    assert_eq!(
        verifier.verify(&stranger).await.err(),
        Some(TokenError::UnknownKey)
    );
    provider.stop().await;
    assert!(verifier.verify(&token).await.is_ok());
    // A kid that would need the provider cannot be told unknown while it is down.
    assert_eq!(
        verifier.verify(&stranger).await.err(),
        Some(TokenError::ProviderUnavailable)
    );
}

/// A stand-in provider on a loopback port that answers every request from `answer(path)`
/// (status line and body), to show what happens when a provider misbehaves.
async fn fake_provider(
    answer: impl Fn(&str, &str) -> (&'static str, String) + Send + Sync + 'static,
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let answer = std::sync::Arc::new(answer);
    let base = issuer.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let answer = answer.clone();
            let base = base.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0_u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(read) => request.extend_from_slice(&buffer[..read]),
                    }
                }
                let text = String::from_utf8_lossy(&request);
                let path = text.split(' ').nth(1).unwrap_or("/").to_owned();
                let (status, body) = answer(&base, &path);
                let head = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(body.as_bytes()).await;
            });
        }
    });
    issuer
}

fn discovery(issuer: &str, jwks_uri: &str) -> String {
    json!({"issuer": issuer, "jwks_uri": jwks_uri}).to_string()
}

#[tokio::test]
async fn a_misbehaving_issuer_is_provider_unavailable() {
    // A token that would need the issuer's keys.
    let claims = |issuer: &str| {
        let header = json!({"alg": "RS256", "kid": "k"});
        let claims = json!({"iss": issuer, "aud": AUDIENCE, "sub": "x", "exp": now() + 60});
        format!("{}.{}.c2ln", segment(&header), segment(&claims))
    };
    let down = fake_provider(|_, _| ("503 Service Unavailable", String::new())).await;
    let other_issuer = fake_provider(|_, _| {
        (
            "200 OK",
            discovery(
                "https://elsewhere.example",
                "https://elsewhere.example/jwks",
            ),
        )
    })
    .await;
    let plain_http_keys =
        fake_provider(|base, _| ("200 OK", discovery(base, "http://keys.example/jwks"))).await;
    let huge_keys = fake_provider(|base, path| {
        if path == "/jwks" {
            let padding = "x".repeat(2 * 1024 * 1024);
            (
                "200 OK",
                json!({"keys": [], "padding": padding}).to_string(),
            )
        } else {
            ("200 OK", discovery(base, &format!("{base}/jwks")))
        }
    })
    .await;
    let not_json = fake_provider(|base, path| {
        if path == "/jwks" {
            ("200 OK", r#"{"keys": [], "keys": []}"#.to_owned())
        } else {
            ("200 OK", discovery(base, &format!("{base}/jwks")))
        }
    })
    .await;
    for issuer in [down, other_issuer, plain_http_keys, huge_keys, not_json] {
        let verifier = Verifier::new(vec![IssuerConfig::new(&issuer, AUDIENCE)]).unwrap();
        assert_eq!(
            verifier.verify(&claims(&issuer)).await.err(),
            Some(TokenError::ProviderUnavailable),
            "{issuer}"
        );
    }
    // A provider whose JWKS is empty is reachable: the key is just unknown.
    let empty = fake_provider(|base, path| {
        if path == "/jwks" {
            (
                "200 OK",
                json!({"keys": [{"kty": "oct", "kid": "k", "k": "c2VjcmV0"}]}).to_string(),
            )
        } else {
            ("200 OK", discovery(base, &format!("{base}/jwks")))
        }
    })
    .await;
    let verifier = Verifier::new(vec![IssuerConfig::new(&empty, AUDIENCE)]).unwrap();
    assert_eq!(
        verifier.verify(&claims(&empty)).await.err(),
        Some(TokenError::UnknownKey)
    );
}

fn code_and_state(callback: &str) -> (String, String) {
    let url = Url::parse(callback).unwrap();
    let find = |name: &str| {
        url.query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
            .unwrap_or_else(|| panic!("no {name} in {callback}"))
    };
    (find("code"), find("state"))
}

#[tokio::test]
async fn sign_in_end_to_end_gives_the_account_and_a_code_works_once() {
    let Some(provider) = TestProvider::start().await else {
        return;
    };
    let party = RelyingParty::new(provider.provider_config("test")).unwrap();
    let (authorization_url, pending) = party.begin().await.unwrap();
    let url = Url::parse(&authorization_url).unwrap();
    let query: Map<String, Value> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), json!(v)))
        .collect();
    assert_eq!(query["code_challenge_method"], json!("S256"));
    assert_eq!(query["response_type"], json!("code"));
    assert_eq!(query["state"], json!(pending.state));
    assert_eq!(query["nonce"], json!(pending.nonce));
    assert!(!authorization_url.contains(&pending.pkce_verifier));
    assert_eq!(pending.provider, "test");

    let callback = provider.sign_in(&authorization_url, "alice").await;
    let (code, state) = code_and_state(&callback);
    let signed_in = party.finish(&pending, &code, &state).await.unwrap();
    assert_eq!(signed_in.subject, "alice");
    assert_eq!(signed_in.issuer, provider.issuer);
    assert_eq!(signed_in.claims["email"], json!("alice@hale.test"));
    assert_eq!(signed_in.claims["roles"], json!(["clinician"]));
    assert!(!format!("{signed_in:?}").contains("alice@hale.test"));

    // The same code again: the provider refuses it.
    assert_eq!(
        party.finish(&pending, &code, &state).await.err(),
        Some(LoginError::CodeRejected)
    );
}

#[tokio::test]
async fn forged_callbacks_and_tampered_logins_are_refused() {
    let Some(provider) = TestProvider::start().await else {
        return;
    };
    let party = RelyingParty::new(provider.provider_config("test")).unwrap();
    let (first_url, first) = party.begin().await.unwrap();
    let (_, second) = party.begin().await.unwrap();
    assert_ne!(first.state, second.state);
    assert_ne!(first.nonce, second.nonce);
    let (code, state) = code_and_state(&provider.sign_in(&first_url, "bob").await);

    // A wrong state is refused before the code is spent...
    assert_eq!(
        party.finish(&first, &code, "forged-state").await.err(),
        Some(LoginError::StateMismatch)
    );
    assert_eq!(
        party.finish(&second, &code, &state).await.err(),
        Some(LoginError::StateMismatch)
    );
    let elsewhere = PendingLogin {
        provider: "other".into(),
        ..first.clone()
    };
    assert_eq!(
        party.finish(&elsewhere, &code, &state).await.err(),
        Some(LoginError::WrongProvider)
    );
    let stale = PendingLogin {
        created_at: now() - 3600,
        ..first.clone()
    };
    assert_eq!(
        party.finish(&stale, &code, &state).await.err(),
        Some(LoginError::Expired)
    );
    assert_eq!(
        party.finish(&first, "", &state).await.err(),
        Some(LoginError::InvalidCallback)
    );
    // ...a nonce from another login refuses the ID token (the code is spent by then)...
    let wrong_nonce = PendingLogin {
        nonce: second.nonce.clone(),
        ..first.clone()
    };
    assert_eq!(
        party.finish(&wrong_nonce, &code, &state).await.err(),
        Some(LoginError::NonceMismatch)
    );

    // ...and a PKCE verifier that is not the login's makes the provider refuse the code.
    let (url, pending) = party.begin().await.unwrap();
    let (code, state) = code_and_state(&provider.sign_in(&url, "bob").await);
    let wrong_verifier = PendingLogin {
        pkce_verifier: second.pkce_verifier.clone(),
        ..pending.clone()
    };
    assert_eq!(
        party.finish(&wrong_verifier, &code, &state).await.err(),
        Some(LoginError::CodeRejected)
    );
}

#[tokio::test]
async fn a_public_client_signs_in_with_pkce_alone() {
    let Some(provider) = TestProvider::start().await else {
        return;
    };
    let party = RelyingParty::new(provider.public_provider_config("public")).unwrap();
    let (url, pending) = party.begin().await.unwrap();
    let (code, state) = code_and_state(&provider.sign_in(&url, "admin-carol").await);
    let signed_in = party.finish(&pending, &code, &state).await.unwrap();
    assert_eq!(signed_in.subject, "admin-carol");
    assert_eq!(signed_in.claims["roles"], json!(["admin"]));
}

#[tokio::test]
async fn an_access_token_is_not_an_id_token() {
    let Some(provider) = TestProvider::start().await else {
        return;
    };
    // The resource server refuses an ID token: its audience is the client, not the API.
    let party = RelyingParty::new(provider.provider_config("test")).unwrap();
    let (url, pending) = party.begin().await.unwrap();
    let (code, state) = code_and_state(&provider.sign_in(&url, "dave").await);
    assert!(party.finish(&pending, &code, &state).await.is_ok());
    let verifier = verifier_for(&provider, |_| {});
    let id_token_like = provider.sign(&with(
        with(provider.access_token_claims(), "aud", json!("hale-web")),
        "sub",
        json!("dave"),
    ));
    assert_eq!(
        verifier.verify(&id_token_like).await.err(),
        Some(TokenError::WrongAudience)
    );
}

/// Never contacted: no generated token names this issuer. Verifying garbage never waits on
/// anything, so a plain executor runs it; a fetch attempt would panic for want of a runtime.
static STRANGERS_ONLY: std::sync::LazyLock<Verifier> = std::sync::LazyLock::new(|| {
    Verifier::new(vec![IssuerConfig::new("https://idp.invalid", "hale")]).unwrap()
});

fn verify_garbage(token: &str) -> Result<hale_oidc::VerifiedToken, TokenError> {
    futures::executor::block_on(STRANGERS_ONLY.verify(token))
}

fn refused_early(result: &Result<hale_oidc::VerifiedToken, TokenError>) -> bool {
    matches!(
        result,
        Err(TokenError::Malformed | TokenError::UnknownIssuer)
    )
}

proptest! {
    #[test]
    fn arbitrary_strings_are_malformed_or_from_an_unknown_issuer(token in any::<String>()) {
        let result = verify_garbage(&token);
        prop_assert!(refused_early(&result), "{:?}", result);
    }

    #[test]
    fn jwt_shaped_strings_are_malformed_or_from_an_unknown_issuer(
        token in "[A-Za-z0-9_-]{1,60}\\.[A-Za-z0-9_-]{1,60}\\.[A-Za-z0-9_-]{0,60}",
    ) {
        let result = verify_garbage(&token);
        prop_assert!(refused_early(&result), "{:?}", result);
    }

    #[test]
    fn well_formed_tokens_from_strangers_are_unknown_issuers(
        alg in "[A-Za-z0-9]{0,8}",
        kid in ".{0,20}",
        issuer in "https://[a-z]{1,10}\\.example/.{0,10}",
        extra in proptest::collection::btree_map("[a-z]{1,6}", any::<i64>(), 0..5),
        signature in proptest::collection::vec(any::<u8>(), 0..80),
    ) {
        let mut claims: Map<String, Value> =
            extra.into_iter().map(|(k, v)| (k, json!(v))).collect();
        claims.insert("iss".into(), json!(issuer));
        let token = format!(
            "{}.{}.{}",
            segment(&json!({"alg": alg, "kid": kid})),
            segment(&Value::Object(claims)),
            URL_SAFE_NO_PAD.encode(signature),
        );
        let result = verify_garbage(&token);
        prop_assert!(refused_early(&result), "{:?}", result);
    }
}
