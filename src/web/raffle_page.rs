//! `GET /raffles/{id}`: the public page of one raffle (SPEC §13), which the
//! chat and Discord announcements link to; no sign-in. Written in the
//! visitor's language (`?lang=`, the cookie, `Accept-Language`), else the
//! channel's. Also the favicon every page links to.

use warp::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use warp::http::{HeaderValue, StatusCode};
use warp::reply::Response;

use super::language::{LanguageRequest, channel_page_language, remember};
use super::reply;
use super::state::WebState;
use super::view::{self, RafflePage};
use crate::catalog::{DashboardText, Language};
use crate::raffle::Outcome;

/// The favicon (SVG).
const FAVICON: &str = include_str!("static/favicon.svg");

/// `GET /raffles/{id}`. An id that is not a raffle's gets the 404 page;
/// without the database the page says so (503).
pub(crate) async fn page(
    raw_id: String,
    state: WebState,
    request: LanguageRequest,
    accept_language: Option<String>,
) -> Response {
    let language_without_channel = || channel_page_language(&state, request, accept_language.as_deref(), None);
    let Ok(id) = raw_id.parse::<i64>() else {
        return not_found(&state, request, language_without_channel());
    };
    let found = match state.store.raffle_audit(id).await {
        Ok(found) => found,
        Err(e) => return unavailable(&state, request, language_without_channel(), e),
    };
    let Some((record, audit)) = found else {
        return not_found(&state, request, language_without_channel());
    };
    let redrawn_as = match state.store.redrawn_as(id).await {
        Ok(redrawn_as) => redrawn_as,
        Err(e) => return unavailable(&state, request, language_without_channel(), e),
    };
    let language = channel_page_language(&state, request, accept_language.as_deref(), Some(&record.channel_login));
    let seed_hex = (record.outcome != Outcome::SkippedOffline).then(|| hex::encode(&audit.seed));
    let markup = view::raffle_page(&RafflePage {
        record: &record,
        seed_hex: seed_hex.as_deref(),
        redrawn_as,
        language,
    });
    remember(reply::html(StatusCode::OK, markup), &state, request)
}

fn not_found(state: &WebState, request: LanguageRequest, language: Language) -> Response {
    remember(
        reply::html(StatusCode::NOT_FOUND, view::raffle_not_found(language)),
        state,
        request,
    )
}

fn unavailable(state: &WebState, request: LanguageRequest, language: Language, e: crate::store::Error) -> Response {
    tracing::error!(error = %e, cause = ?e, "the raffle page could not read the database");
    let markup = view::message_page(
        &language.say(&DashboardText::DatabaseUnavailableTitle),
        &language.say(&DashboardText::DatabaseUnavailable),
        "../",
        language,
    );
    remember(reply::html(StatusCode::SERVICE_UNAVAILABLE, markup), state, request)
}

/// `GET /favicon.ico` and `/static/favicon.svg`: the bot's mark, cached
/// for a day.
pub(crate) fn favicon() -> Response {
    let mut response = Response::new(FAVICON.into());
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("image/svg+xml"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400"));
    response
}
