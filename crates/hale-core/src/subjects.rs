//! Subject (patient) registration and lookup.

use hale_domain::event::{EventBody, ExpectedVersion, Identifier, NewEvent, StreamRef};
use hale_domain::subject::{NewSubject, identifier_key};
use hale_domain::{RequestContext, SubjectId, TenantId};
use hale_forms::FieldError;
use hale_store::{Append, Page, SubjectRow};

use crate::{Core, CoreError, Target, require_subject_access};

/// A request to register a subject.
#[derive(Clone, Debug)]
pub struct RegisterSubject {
    pub identifiers: Vec<Identifier>,
    pub display_name: Option<String>,
    pub birth_date: Option<String>,
}

impl Core {
    pub async fn register_subject(
        &self,
        context: &RequestContext,
        tenant: TenantId,
        request: RegisterSubject,
    ) -> Result<SubjectRow, CoreError> {
        let target = Target {
            tenant: Some(tenant),
            kind: "subject",
            id: None,
        };
        self.audited::<crate::policy::RegisterSubjects, _>(
            context,
            "subject.register",
            target,
            async {
                let subject = NewSubject::parse(
                    request.identifiers,
                    request.display_name,
                    request.birth_date,
                    self.now(),
                )
                .map_err(|errors| {
                    CoreError::Invalid(
                        errors
                            .into_iter()
                            .map(|error| FieldError {
                                field: error.field,
                                code: error.code,
                                message: error.message.to_owned(),
                            })
                            .collect(),
                    )
                })?;
                let keys: Vec<String> = subject
                    .identifiers
                    .iter()
                    .map(|identifier| identifier_key(tenant, identifier))
                    .collect();
                for key in &keys {
                    if self
                        .store()
                        .subject_by_identifier_key(tenant, key)
                        .await?
                        .is_some()
                    {
                        return Err(CoreError::IdentifierTaken);
                    }
                }
                let id = SubjectId::from_uuid(self.new_uuid());
                self.store()
                    .append(Append {
                        tenant,
                        actor: context.actor(),
                        recorded_at: self.now(),
                        events: vec![NewEvent {
                            stream: StreamRef::subject(id),
                            expected: ExpectedVersion::NoStream,
                            body: EventBody::SubjectRegistered {
                                subject_id: id,
                                identifiers: subject.identifiers,
                                display_name: subject.display_name,
                                birth_date: subject.birth_date,
                                identifier_keys: keys,
                            },
                        }],
                        idempotency: None,
                        preconditions: Vec::new(),
                    })
                    .await?;
                self.store()
                    .subject(tenant, id)
                    .await?
                    .ok_or_else(|| CoreError::internal("a subject just registered is missing"))
            },
        )
        .await
    }

    pub async fn get_subject(
        &self,
        context: &RequestContext,
        tenant: TenantId,
        subject: SubjectId,
    ) -> Result<SubjectRow, CoreError> {
        let id = subject.to_string();
        let target = Target {
            tenant: Some(tenant),
            kind: "subject",
            id: Some(&id),
        };
        self.audited::<crate::policy::ReadSubject, _>(context, "subject.read", target, async {
            require_subject_access(&context.principal, subject)?;
            self.store()
                .subject(tenant, subject)
                .await?
                .ok_or(CoreError::NotFound)
        })
        .await
    }

    pub async fn list_subjects(
        &self,
        context: &RequestContext,
        tenant: TenantId,
        after: Option<(i64, String, i64)>,
        limit: Option<i64>,
    ) -> Result<Page<SubjectRow>, CoreError> {
        let target = Target {
            tenant: Some(tenant),
            kind: "subject",
            id: None,
        };
        self.audited::<crate::policy::ListSubjects, _>(context, "subject.list", target, async {
            let limit = crate::submissions::page_size(limit)?;
            Ok(self.store().subjects(tenant, after, limit).await?)
        })
        .await
    }

    /// Whether a subject exists in a tenant; remembered, since subjects are not deleted.
    pub(crate) async fn subject_exists(
        &self,
        tenant: TenantId,
        subject: SubjectId,
    ) -> Result<bool, CoreError> {
        let known = self
            .inner
            .subjects
            .read()
            .map(|set| set.contains_key(&(tenant, subject)))
            .unwrap_or(false);
        if known {
            return Ok(true);
        }
        let exists = self.store().subject(tenant, subject).await?.is_some();
        if exists {
            crate::remember(&self.inner.subjects, (tenant, subject), ());
        }
        Ok(exists)
    }
}
