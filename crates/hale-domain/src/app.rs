//! The app-version workflow: draft → in review → published | rejected; published → retired.
//! Only a reviewer who did not author a version may approve it.

use crate::context::{Principal, Role};
use crate::event::VersionStatus;

/// A workflow step someone asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionAction {
    SubmitForReview,
    Approve,
    Reject,
    Retire,
}

/// Why a workflow step was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WorkflowError {
    #[error("this step is not allowed from the version's current status")]
    InvalidTransition,
    #[error("the author of a version cannot approve it")]
    SelfApproval,
    #[error("this step needs a role the caller does not have")]
    MissingRole,
}

/// Decides a workflow step: the status it leads to, or why it is refused.
pub fn transition(
    current: VersionStatus,
    action: VersionAction,
    actor: &Principal,
    author: &str,
) -> Result<VersionStatus, WorkflowError> {
    use VersionAction as A;
    use VersionStatus as S;
    let (needs, next) = match (current, action) {
        (S::Draft | S::Rejected, A::SubmitForReview) => {
            (&[Role::Analyst, Role::TenantAdmin][..], S::InReview)
        }
        (S::InReview, A::Approve) => (&[Role::Reviewer][..], S::Published),
        (S::InReview, A::Reject) => (&[Role::Reviewer][..], S::Rejected),
        (S::Published, A::Retire) => (&[Role::Reviewer, Role::TenantAdmin][..], S::Retired),
        _ => return Err(WorkflowError::InvalidTransition),
    };
    if !actor.has_any_role(needs) {
        return Err(WorkflowError::MissingRole);
    }
    if action == A::Approve && actor.id.to_string() == author {
        return Err(WorkflowError::SelfApproval);
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::PrincipalId;

    fn principal(n: u128, roles: &[Role]) -> Principal {
        Principal {
            id: PrincipalId::from_uuid(uuid::Uuid::from_u128(n)),
            tenant: None,
            roles: roles.to_vec(),
            subject: None,
            kind: crate::AccountKind::User,
            scopes: crate::scope::Scopes::unrestricted(),
        }
    }

    #[test]
    fn an_author_cannot_approve_their_own_version_even_as_reviewer() {
        let both = principal(1, &[Role::Analyst, Role::Reviewer]);
        let author = both.id.to_string();
        assert_eq!(
            transition(
                VersionStatus::InReview,
                VersionAction::Approve,
                &both,
                &author
            ),
            Err(WorkflowError::SelfApproval)
        );
        let reviewer = principal(2, &[Role::Reviewer]);
        assert_eq!(
            transition(
                VersionStatus::InReview,
                VersionAction::Approve,
                &reviewer,
                &author
            ),
            Ok(VersionStatus::Published)
        );
    }

    #[test]
    fn published_versions_only_retire() {
        let reviewer = principal(2, &[Role::Reviewer, Role::Analyst]);
        for action in [
            VersionAction::SubmitForReview,
            VersionAction::Approve,
            VersionAction::Reject,
        ] {
            assert_eq!(
                transition(VersionStatus::Published, action, &reviewer, "x"),
                Err(WorkflowError::InvalidTransition)
            );
        }
        assert_eq!(
            transition(
                VersionStatus::Published,
                VersionAction::Retire,
                &reviewer,
                "x"
            ),
            Ok(VersionStatus::Retired)
        );
    }

    #[test]
    fn analysts_cannot_approve() {
        let analyst = principal(3, &[Role::Analyst]);
        assert_eq!(
            transition(
                VersionStatus::InReview,
                VersionAction::Approve,
                &analyst,
                "x"
            ),
            Err(WorkflowError::MissingRole)
        );
    }
}
