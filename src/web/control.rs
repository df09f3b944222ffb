//! The control room's JSON API (SPEC §13): a channel's own settings. Who
//! asks is the route table's `session::caller` (the admin token, or a
//! signed-in broadcaster, who may manage only their own channel).

use serde_json::Value;
use warp::http::StatusCode;
use warp::reply::Response;

use super::api::{parse_login, unknown_channel};
use super::reply::{self, WebError};
use super::session::Caller;
use super::state::WebState;
use crate::catalog::ApiText;
use crate::channel::settings::{ChannelOverrides, Setting, SettingValue, SettingsView};
use crate::store::ChannelRecord;

/// Largest settings body accepted, in bytes.
pub(crate) const MAX_SETTINGS_BODY: u64 = 16 * 1024;

/// The channel named in the path, if `caller` may manage it; 400 for a bad
/// login, 403 for another broadcaster's channel, 404 for an unknown
/// channel, 503 without the database.
pub(crate) async fn channel(state: &WebState, caller: &Caller, raw_login: &str) -> Result<ChannelRecord, WebError> {
    let login = parse_login(raw_login)?;
    caller.check_manages(&login)?;
    state
        .store
        .find_channel(&login)
        .await
        .map_err(WebError::database_unavailable)?
        .ok_or_else(|| unknown_channel(&login))
}

/// `GET /api/channels/{login}/settings`: every per-channel setting's
/// effective value and its source.
///
/// # Errors
///
/// 400 for a bad login, 404 for an unknown channel, 503 without the database.
pub(crate) async fn get_settings(state: WebState, caller: Caller, raw_login: String) -> Result<Response, WebError> {
    let channel = channel(&state, &caller, &raw_login).await?;
    let own = state
        .store
        .channel_settings(channel.id)
        .await
        .map_err(WebError::database_unavailable)?;
    Ok(reply::json(
        StatusCode::OK,
        &SettingsView::new(state.engine.rules(), &own),
    ))
}

/// `PUT /api/channels/{login}/settings`: a partial object of settings
/// (`null` resets one to its default), validated like the environment;
/// answers like `GET`.
///
/// # Errors
///
/// 400 naming the field at fault (or for a bad login), 404 for an unknown
/// channel, 503 without the database.
pub(crate) async fn put_settings(
    state: WebState,
    caller: Caller,
    raw_login: String,
    body: Value,
) -> Result<Response, WebError> {
    let channel = channel(&state, &caller, &raw_login).await?;
    let overrides = ChannelOverrides::parse_json(&body)
        .map_err(|e| WebError::refusal(StatusCode::BAD_REQUEST, ApiText::Setting(e)))?;
    let own = state
        .engine
        .update_channel_settings(channel.id, &overrides)
        .await
        .map_err(WebError::database_unavailable)?;
    if overrides.touches(Setting::Language) {
        let language = match own.get(Setting::Language) {
            Some(SettingValue::Language(language)) => Some(*language),
            _ => None,
        };
        state.languages.set_own(&channel.login, language);
    }
    let changed: Vec<&str> = overrides.changes().map(|(setting, _)| Setting::name(setting)).collect();
    tracing::info!(channel = %channel.login, settings = ?changed, "channel settings changed");
    Ok(reply::json(
        StatusCode::OK,
        &SettingsView::new(state.engine.rules(), &own),
    ))
}
