//! The OpenAPI document (served at /api/openapi.json) and the Swagger UI at /docs, whose assets
//! are compiled into the binary (`vendored`), so nothing is downloaded at build or run time.

use utoipa::openapi::Response;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    account, admin, analytics, audit, auth, billing, catalog, codes, domains, health, jobs, me,
    notifications, projects, settings, templates, uploads, webhooks,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "qrsaas", description = "Self-hostable QR-code platform: codes, redirects, analytics, billing."),
    paths(
        health::healthz, health::readyz, health::metrics,
        auth::register, auth::login, auth::logout, auth::google_start, auth::google_callback,
        account::change_password, account::forgot_password, account::reset_password,
        account::verify_email, account::resend_verification, account::change_email,
        account::sessions, account::revoke_session, account::delete_account,
        account::totp_setup, account::totp_enable, account::totp_disable, account::export_account,
        me::get_me, me::patch_me, me::create_key, me::list_keys, me::get_key, me::revoke_key,
        projects::create, projects::list, projects::get_one, projects::update, projects::remove,
        settings::get_settings, settings::put_settings,
        audit::mine, audit::all,
        admin::list_users, admin::update_user, admin::block_code, admin::unblock_code,
        admin::stats, admin::search_codes, admin::blocklist, admin::add_block, admin::remove_block,
        admin::reports, admin::resolve_report,
        codes::create, codes::list, codes::get_one, codes::update, codes::remove, codes::image, codes::versions, codes::restore_version, codes::schedule, codes::schedules, codes::cancel_schedule,
        catalog::get_merchant, catalog::put_merchant, catalog::create_product, catalog::list_products,
        catalog::get_product, catalog::update_product, catalog::delete_product,
        uploads::upload, uploads::download,
        templates::list, templates::preview, templates::fill, templates::page,
        crate::redirect::scan, crate::redirect::download, crate::redirect::unlock::submit, crate::redirect::logo,
        crate::redirect::report_form, crate::redirect::report,
        analytics::per_code, analytics::per_code_csv, analytics::account, analytics::account_csv,
        jobs::bulk_create, jobs::create_import, jobs::create_export, jobs::download_export, jobs::get_job, jobs::cancel_job, jobs::list_jobs, jobs::retry_job,
        billing::plans, billing::subscription, billing::usage, billing::credits, billing::checkout,
        billing::credits_checkout, billing::portal, billing::stripe_webhook, billing::list_statements,
        admin::get_user, admin::grant_credits,
        webhooks::create, webhooks::list, webhooks::get_one, webhooks::update, webhooks::remove,
        webhooks::rotate, webhooks::test, webhooks::deliveries, webhooks::delivery, webhooks::replay,
        domains::add, domains::list, domains::get_one, domains::remove, domains::verify, domains::update, domains::tls_allowed, domains::token,
        notifications::stream, notifications::set_phone, notifications::verify_phone,
        notifications::get_phone, notifications::delete_phone, notifications::unsubscribe_page,
        notifications::unsubscribe,
    ),
    components(schemas(
        crate::error::ErrorBody, super::analytics::Source,
        crate::notify::events::EventType, crate::notify::events::QrCodeData,
        crate::notify::events::ScansBatchData, crate::notify::events::ScanData,
        crate::notify::events::MilestoneData, crate::notify::events::ExportCompletedData,
        crate::notify::events::BulkCompletedData, crate::notify::events::JobFailedData,
        crate::notify::events::UsageThresholdData, crate::notify::events::SubscriptionUpdatedData,
        crate::notify::events::PingData,
    )),
    modifiers(&Bearer, &Strict),
    tags(
        (name = "accounts", description = "Sign-up, sessions, API keys, profile, settings"),
        (name = "projects", description = "Folders for QR codes"),
        (name = "qr-codes", description = "QR codes of every type: create, style, render"),
        (name = "payments", description = "Merchant profile and products for UPI payment codes"),
        (name = "templates", description = "Frames and landing-page templates"),
        (name = "analytics", description = "Scan reports"),
        (name = "jobs", description = "Bulk exports and the status of background jobs"),
        (name = "public", description = "Pages served without authentication"),
        (name = "billing", description = "Plans, subscription, usage, credits, Stripe checkout and webhooks, statements"),
        (name = "webhooks", description = "Outgoing webhooks (Standard Webhooks v1): endpoints, secrets, deliveries. Each event's `data` is the matching `*Data` schema"),
        (name = "admin", description = "Operator APIs (role admin)"),
        (name = "ops", description = "Health, readiness, metrics"),
    )
)]
pub struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A session token (qrs_…) or an API key (qrk_…). A key needs the scope \
                         each operation lists under `security`; a session has every scope.",
                    ))
                    .build(),
            ),
        );
        // Each secured operation: the scope it needs, from the one table the server enforces,
        // and the refusals every secured operation can answer.
        for (path, item) in api.paths.paths.iter_mut() {
            let ops = [
                ("GET", item.get.as_mut()),
                ("POST", item.post.as_mut()),
                ("PUT", item.put.as_mut()),
                ("PATCH", item.patch.as_mut()),
                ("DELETE", item.delete.as_mut()),
            ];
            for (method, op) in ops {
                let Some(op) = op else { continue };
                // Every JSON body is read by the one extractor: these refusals apply to all.
                let json_body = op
                    .request_body
                    .as_ref()
                    .is_some_and(|b| b.content.contains_key("application/json"));
                if json_body {
                    let responses = &mut op.responses.responses;
                    responses.entry("400".into()).or_insert_with(|| {
                        Response::new("`bad_request`: the body is not JSON").into()
                    });
                    responses.entry("413".into()).or_insert_with(|| {
                        Response::new("`payload_too_large`: the body is over the limit").into()
                    });
                    responses.entry("415".into()).or_insert_with(|| {
                        Response::new("`unsupported_media_type`: not application/json").into()
                    });
                    responses.entry("422".into()).or_insert_with(|| {
                        Response::new(
                            "`validation_failed`: `fields` names each refused field (a wrong \
                             type, a missing or unknown field, a key given twice, a NUL)",
                        )
                        .into()
                    });
                }
                if op.security.as_ref().is_none_or(Vec::is_empty) {
                    continue;
                }
                let scope = crate::accounts::scopes::required(method, path);
                op.security = Some(vec![SecurityRequirement::new("bearer", [scope])]);
                let responses = &mut op.responses.responses;
                responses.entry("401".into()).or_insert_with(|| {
                    Response::new("Missing, invalid, revoked or expired credentials").into()
                });
                responses.entry("403".into()).or_insert_with(|| {
                    Response::new(
                        "`insufficient_scope`: the API key lacks this operation's scope; \
                         `forbidden`: the account is suspended or not allowed",
                    )
                    .into()
                });
            }
        }
    }
}

/// What the server's strict input handling means for the document: a parameter that does not
/// parse or is out of range is a 400/422 on every operation that takes parameters, and a
/// request body object takes no property it does not list (`additionalProperties: false`, at
/// every depth), as the JSON extractor enforces.
struct Strict;

impl Modify for Strict {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let Ok(mut doc) = serde_json::to_value(&*api) else {
            return;
        };
        let mut refs = Vec::new();
        if let Some(paths) = doc["paths"].as_object_mut() {
            let ops = paths
                .values_mut()
                .filter_map(|i| i.as_object_mut())
                .flat_map(|i| i.values_mut())
                .filter(|op| op.get("responses").is_some());
            for op in ops {
                let takes_params = op["parameters"].as_array().is_some_and(|p| !p.is_empty());
                // A NUL in a query string is refused (400): free text parameters say so.
                for param in op
                    .get_mut("parameters")
                    .and_then(|p| p.as_array_mut())
                    .into_iter()
                    .flatten()
                {
                    let in_query = param["in"] == "query";
                    if let Some(schema) = param.get_mut("schema").and_then(|s| s.as_object_mut())
                        && in_query
                        && schema.get("type").is_some_and(|t| {
                            t == "string"
                                || t.as_array().is_some_and(|a| a.contains(&"string".into()))
                        })
                        && !["format", "enum", "pattern"]
                            .iter()
                            .any(|k| schema.contains_key(*k))
                    {
                        schema.insert("pattern".into(), "^[^\\u0000]*$".into());
                    }
                }
                if takes_params && let Some(responses) = op["responses"].as_object_mut() {
                    responses.entry("400").or_insert_with(|| {
                        serde_json::json!({"description": "`bad_request`: a NUL character in the query"})
                    });
                    responses.entry("422").or_insert_with(|| {
                        serde_json::json!({"description": "`validation_failed`: `fields` names the parameter that does not parse or is out of range"})
                    });
                }
                // Every body this API declares is one the handler needs. (`get_mut`, not
                // indexing: indexing a missing key would add it.)
                if let Some(body) = op.get_mut("requestBody").and_then(|b| b.as_object_mut()) {
                    body.insert("required".into(), true.into());
                    // JSON bodies and multipart forms refuse what they do not list; the
                    // landing pages' url-encoded forms, read by browsers, ignore it.
                    for kind in ["application/json", "multipart/form-data"] {
                        if let Some(schema) = body
                            .get_mut("content")
                            .and_then(|c| c.get_mut(kind))
                            .and_then(|j| j.get_mut("schema"))
                        {
                            close(schema, &mut refs);
                        }
                    }
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        while let Some(name) = refs.pop() {
            let schema = doc
                .get_mut("components")
                .and_then(|c| c.get_mut("schemas"))
                .and_then(|s| s.get_mut(&name));
            if let Some(schema) = schema
                && seen.insert(name.clone())
            {
                close(schema, &mut refs);
            }
        }
        match serde_json::from_value(doc) {
            Ok(strict) => *api = strict,
            Err(e) => tracing::error!(error = %e, "OpenAPI document left as generated"),
        }
    }
}

/// Marks the objects of a request body schema closed, collecting the components it refers to.
/// `allOf` parts are left open: each part sees only its own properties, so closing them would
/// refuse every valid body.
fn close(schema: &mut serde_json::Value, refs: &mut Vec<String>) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    if let Some(r) = obj.get("$ref").and_then(|r| r.as_str()) {
        if let Some(name) = r.strip_prefix("#/components/schemas/") {
            refs.push(name.to_owned());
        }
        return;
    }
    if obj.contains_key("properties") && !obj.contains_key("additionalProperties") {
        obj.insert("additionalProperties".into(), false.into());
    }
    if let Some(props) = obj.get_mut("properties").and_then(|p| p.as_object_mut()) {
        for v in props.values_mut() {
            close(v, refs);
        }
    }
    if let Some(items) = obj.get_mut("items") {
        close(items, refs);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(list) = obj.get_mut(key).and_then(|l| l.as_array_mut()) {
            for v in list {
                close(v, refs);
            }
        }
    }
}
