//! The security posture: a list of checks, each passed or failed with what to do about it, and
//! never a secret. The checks fixed at start (TLS, certificate expiry, production-mode checks)
//! come from the binary; the live ones (MFA coverage, rate limits in force, OpenID issuers and
//! their key caches) are made here on each request. `hale doctor` prints the same list.

use std::sync::Arc;

use hale_core::MfaCoverage;
use serde::Serialize;

use crate::{Oidc, RateLimits};

/// One check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable, such as `tls` or `mfa.reviewer`.
    pub id: String,
    pub passed: bool,
    /// What was found.
    pub detail: String,
    /// What to change, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    pub fn pass(id: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            passed: true,
            detail: detail.into(),
            fix: None,
        }
    }

    pub fn fail(id: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            passed: false,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// The checks made when the server started, and the certificate in force (it is reloaded in
/// place, so its expiry is read on each report).
#[derive(Clone, Debug, Default)]
pub struct Posture {
    pub startup: Arc<Vec<Check>>,
    pub tls: Option<Arc<hale_listen::Tls>>,
}

/// Days before expiry from which the certificate check fails, so renewal is due in time.
pub const RENEW_WITHIN_DAYS: i64 = 14;

/// The server certificate's validity at `now` (seconds since the Unix epoch): it fails once
/// the certificate has expired or is not yet valid, and from [`RENEW_WITHIN_DAYS`] before it
/// expires.
pub fn certificate_check(validity: Option<&hale_listen::CertificateValidity>, now: i64) -> Check {
    const ID: &str = "tls_certificate";
    let renew = "renew it and replace the certificate and key files: the server reloads them \
                 without a restart (or send SIGHUP)";
    let Some(validity) = validity else {
        return Check::fail(ID, "the certificate's validity cannot be read", renew);
    };
    let named = validity
        .subject
        .as_deref()
        .unwrap_or("the server certificate");
    let days_left = (validity.not_after - now).div_euclid(86_400);
    if now < validity.not_before {
        Check::fail(
            ID,
            format!("{named} is not valid yet"),
            "check the certificate's dates and the machine's clock",
        )
    } else if now > validity.not_after {
        Check::fail(ID, format!("{named} has expired"), renew)
    } else if days_left < RENEW_WITHIN_DAYS {
        Check::fail(ID, format!("{named} expires in {days_left} days"), renew)
    } else {
        Check::pass(ID, format!("{named} is valid for {days_left} more days"))
    }
}

/// Every person holding a role that needs a second factor has one (TOTP, or a provider that
/// shows one at sign-in); password-only sessions of the others carry no role until they enrol.
pub fn mfa_checks(coverage: &[MfaCoverage]) -> Vec<Check> {
    coverage
        .iter()
        .map(|role| {
            let id = format!("mfa.{}", role.role.as_str());
            let covered = role.enrolled + role.through_provider;
            let detail = format!(
                "{} of {} {} accounts have TOTP; {} sign in through a provider",
                role.enrolled,
                role.accounts,
                role.role.as_str(),
                role.through_provider
            );
            if covered == role.accounts {
                Check::pass(id, detail)
            } else {
                Check::fail(
                    id,
                    detail,
                    format!(
                        "{} accounts have no second factor: they hold no role until they enrol \
                         TOTP (POST /api/v1/auth/mfa/offer); list them with `hale user list`",
                        role.accounts - covered
                    ),
                )
            }
        })
        .collect()
}

/// The rate-limit rules in force, and that patients are limited.
pub fn rate_limit_checks(rate: &RateLimits) -> Vec<Check> {
    let rules: Vec<String> = rate
        .rules()
        .iter()
        .map(|rule| {
            format!(
                "{} ({} calls per {} s by {:?})",
                rule.policy.name(),
                rule.policy.calls(),
                rule.policy.period().as_secs(),
                rule.key
            )
        })
        .collect();
    let patients = rate.rules().iter().any(|rule| {
        rule.applies_to
            .contains(&crate::Covered::Role(hale_domain::Role::Patient))
    });
    let detail = if rules.is_empty() {
        String::from("no rate limit is in force")
    } else {
        rules.join("; ")
    };
    vec![if patients {
        Check::pass("rate_limits", detail)
    } else {
        Check::fail(
            "rate_limits",
            detail,
            "add a [[rate_limits]] rule that applies to patients, or remove rate_limits from \
             the configuration to use the shipped ones",
        )
    }]
}

/// Each trusted issuer is reached over HTTPS and its keys are fresh (or not needed yet).
pub fn oidc_checks(oidc: &Oidc) -> Vec<Check> {
    issuer_checks(oidc.issuer_status())
}

fn issuer_checks(statuses: Vec<hale_oidc::IssuerStatus>) -> Vec<Check> {
    statuses
        .into_iter()
        .map(|status| {
            let id = format!("oidc.{}", status.issuer);
            let age = status.keys_age.map_or_else(
                || String::from("not fetched yet (fetched on the first token)"),
                |age| format!("{} keys fetched {} s ago", status.keys, age.as_secs()),
            );
            if !status.issuer.starts_with("https://") {
                Check::fail(
                    id,
                    format!("issuer over plain HTTP; {age}"),
                    "use the provider's https:// issuer URL",
                )
            } else if status.keys_age.is_some_and(|age| age > status.max_age * 2) {
                Check::fail(
                    id,
                    format!("keys are stale: {age}"),
                    "check that Hale can reach the provider's JWKS",
                )
            } else {
                Check::pass(id, age)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::Duration;

    use hale_domain::Role;

    use super::*;

    #[test]
    fn mfa_coverage_fails_only_for_people_with_no_second_factor() {
        let coverage = |accounts, enrolled, through_provider| MfaCoverage {
            role: Role::Reviewer,
            accounts,
            enrolled,
            through_provider,
        };
        let covered = mfa_checks(&[coverage(3, 2, 1)]);
        assert!(covered[0].passed, "{covered:?}");
        assert_eq!(covered[0].id, "mfa.reviewer");
        let gap = mfa_checks(&[coverage(3, 1, 1)]);
        assert!(!gap[0].passed);
        assert!(
            gap[0].fix.as_deref().unwrap().starts_with("1 accounts"),
            "{gap:?}"
        );
        assert!(mfa_checks(&[coverage(0, 0, 0)])[0].passed);
    }

    #[test]
    fn rate_limits_must_cover_patients() {
        let shipped = RateLimits::new(
            hale_limit::Limiter::Memory(hale_limit::MemoryStore::new(
                hale_limit::MemoryConfig::default(),
            )),
            crate::default_rules(),
        );
        let checks = rate_limit_checks(&shipped);
        assert!(checks[0].passed, "{checks:?}");
        assert!(
            checks[0].detail.contains("patient (10 calls per 300 s"),
            "{checks:?}"
        );
        assert!(!rate_limit_checks(&RateLimits::default())[0].passed);
    }

    #[test]
    fn issuers_need_https_and_fresh_keys() {
        let status = |issuer: &str, age: Option<u64>| hale_oidc::IssuerStatus {
            issuer: issuer.to_owned(),
            keys: 2,
            keys_age: age.map(Duration::from_secs),
            max_age: Duration::from_secs(600),
        };
        let checks = issuer_checks(vec![
            status("https://idp.example", None),
            status("https://idp.example", Some(1200)),
            status("https://idp.example", Some(1201)),
            status("http://idp.example", Some(1)),
        ]);
        let passed: Vec<bool> = checks.iter().map(|check| check.passed).collect();
        assert_eq!(passed, [true, true, false, false], "{checks:?}");
        assert!(checks[3].detail.contains("plain HTTP"));
        assert_eq!(checks[0].id, "oidc.https://idp.example");
    }
}

#[cfg(test)]
mod certificate_tests {
    use super::*;

    const DAY: i64 = 86_400;

    fn validity(not_before: i64, not_after: i64) -> hale_listen::CertificateValidity {
        hale_listen::CertificateValidity {
            subject: Some(String::from("hale.example")),
            not_before,
            not_after,
        }
    }

    #[test]
    fn the_check_fails_before_validity_after_expiry_and_inside_the_renewal_window() {
        let cert = validity(0, 100 * DAY);
        let at = |now| certificate_check(Some(&cert), now);
        assert!(!at(-1).passed && at(-1).detail.contains("not valid yet"));
        assert!(at(0).passed);
        assert!(at(100 * DAY - RENEW_WITHIN_DAYS * DAY).passed);
        let inside = at(100 * DAY - RENEW_WITHIN_DAYS * DAY + 1);
        assert!(!inside.passed && inside.detail.contains("expires in 13 days"));
        assert!(!at(100 * DAY).passed && at(100 * DAY).detail.contains("expires in 0 days"));
        let expired = at(100 * DAY + 1);
        assert!(!expired.passed && expired.detail.contains("has expired"));
        assert!(expired.fix.is_some_and(|fix| fix.contains("SIGHUP")));
        assert_eq!(
            at(30 * DAY).detail,
            "hale.example is valid for 70 more days"
        );
        assert!(!certificate_check(None, 0).passed);
    }
}
