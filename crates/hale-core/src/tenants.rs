//! Tenant commands and queries (platform administrators).

use hale_domain::event::{EventBody, ExpectedVersion, NewEvent, StreamRef};
use hale_domain::tenant::{TenantSlug, parse_display_name};
use hale_domain::{RequestContext, TenantId};
use hale_forms::FieldError;
use hale_store::{Append, TenantRow};

use crate::{Core, CoreError, Target};

impl Core {
    pub async fn create_tenant(
        &self,
        context: &RequestContext,
        slug: &str,
        name: &str,
    ) -> Result<TenantRow, CoreError> {
        let target = Target {
            tenant: None,
            kind: "tenant",
            id: None,
        };
        self.audited::<crate::policy::ManageTenants, _>(context, "tenant.create", target, async {
            let mut errors = Vec::new();
            let slug = TenantSlug::parse(slug).map_err(|error| {
                errors.push(FieldError {
                    field: "slug".into(),
                    code: "invalid_slug",
                    message: error.to_string(),
                })
            });
            let name = parse_display_name(name).map_err(|error| {
                errors.push(FieldError {
                    field: "name".into(),
                    code: "invalid_name",
                    message: error.to_string(),
                })
            });
            let (Ok(slug), Ok(name)) = (slug, name) else {
                return Err(CoreError::Invalid(errors));
            };
            if self.store().tenant_by_slug(slug.as_str()).await?.is_some() {
                return Err(CoreError::TenantExists);
            }
            let id = TenantId::from_uuid(self.new_uuid());
            self.store()
                .append(Append {
                    tenant: TenantId::PLATFORM,
                    actor: context.actor(),
                    recorded_at: self.now(),
                    events: vec![NewEvent {
                        stream: StreamRef::tenant(id),
                        expected: ExpectedVersion::NoStream,
                        body: EventBody::TenantCreated {
                            tenant_id: id,
                            slug: slug.to_string(),
                            name,
                        },
                    }],
                    idempotency: None,
                    preconditions: Vec::new(),
                })
                .await?;
            self.store()
                .tenant(id)
                .await?
                .ok_or_else(|| CoreError::internal("a tenant just created is missing"))
        })
        .await
    }

    /// Tenants the caller can see: all for platform administrators, their own for others.
    pub async fn list_tenants(
        &self,
        context: &RequestContext,
    ) -> Result<Vec<TenantRow>, CoreError> {
        let target = Target {
            tenant: None,
            kind: "tenant",
            id: None,
        };
        self.audited::<crate::policy::ListTenants, _>(context, "tenant.list", target, async {
            let tenants = self.store().tenants().await?;
            Ok(tenants
                .into_iter()
                .filter(|tenant| context.principal.belongs_to(tenant.id))
                .collect())
        })
        .await
    }
}
