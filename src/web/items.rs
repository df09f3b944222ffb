//! The control room's prize editor (SPEC §13): `GET`/`PUT
//! /api/channels/{login}/items`, a channel's own prize list or the default
//! one. Who asks is the route table's `session::caller`, as for the
//! settings (`control.rs`).
//!
//! - `GET` answers `{"items": [{"name", "probability", "stock"}], "source":
//!   "channel"|"default", "no_prize_probability", "table"}`: `stock` is what
//!   remains (`null` = unlimited), and `table` holds the cells of the
//!   `check-items` table of the list as it stands (`header`, `rows`,
//!   `total`, and the aligned `text`), in the reader's language, so the
//!   dashboard shows what the command line prints.
//! - `PUT {"items": [...]}` sets the channel's own list, validated by the
//!   items file's rules (an empty list is refused, like an empty file);
//!   `PUT {"items": null}` sends the channel back to the default list.
//!   Stock follows the file synchronisation's rules. A refusal is a 400
//!   naming the item and what is wrong with it, in the reader's language:
//!   the visitor's own choice (`?lang=`, the `kyb_lang` cookie: what the
//!   dashboard shows them), else the channel's language.

use serde::Serialize;
use serde_json::Value;
use warp::http::StatusCode;
use warp::reply::Response;

use super::control::channel;
use super::language::LanguageRequest;
use super::reply::{self, WebError};
use super::session::Caller;
use super::state::WebState;
use crate::catalog::{ItemsText, Language, table_words};
use crate::raffle::items::{ItemsUpdate, ListSource, PrizeList, TableRows};

/// Largest prize-list body accepted, in bytes: room for the items file's
/// 1,000 items with long names.
pub(crate) const MAX_ITEMS_BODY: u64 = 256 * 1024;

/// One item of the answer.
#[derive(Debug, Serialize)]
struct ItemView<'a> {
    name: &'a str,
    probability: f64,
    /// Remaining; `None` = unlimited.
    stock: Option<u32>,
}

/// The `check-items` table of the list, cells and text.
#[derive(Debug, Serialize)]
struct TableView {
    #[serde(flatten)]
    rows: TableRows,
    text: String,
}

/// The answer of `GET` and `PUT`.
#[derive(Debug, Serialize)]
struct ItemsView<'a> {
    items: Vec<ItemView<'a>>,
    source: ListSource,
    no_prize_probability: f64,
    table: TableView,
}

fn view(list: &PrizeList, language: Language) -> ItemsView<'_> {
    let rows = list.live_table().table_rows_in(&table_words(language));
    ItemsView {
        items: list
            .items
            .iter()
            .map(|item| ItemView {
                name: &item.name,
                probability: item.probability,
                stock: item.stock,
            })
            .collect(),
        source: list.source,
        no_prize_probability: list.no_prize_probability(),
        table: TableView {
            text: rows.render(),
            rows,
        },
    }
}

/// The reader's language: their own choice, else their `Accept-Language`,
/// else the channel's.
fn reader_language(state: &WebState, request: LanguageRequest, login: &str) -> Language {
    request.reader(state.languages.language_for(login))
}

/// `GET /api/channels/{login}/items`: the list the channel draws from.
///
/// # Errors
///
/// 400 for a bad login, 403 for another broadcaster's channel, 404 for an
/// unknown channel, 503 without the database.
pub(crate) async fn get_items(
    state: WebState,
    caller: Caller,
    raw_login: String,
    language: LanguageRequest,
) -> Result<Response, WebError> {
    let language = reader_language(&state, language, &raw_login);
    let channel = channel(&state, &caller, &raw_login)
        .await
        .map_err(|e| e.spoken_in(language))?;
    let list = state
        .store
        .prize_list(channel.id)
        .await
        .map_err(|e| WebError::database_unavailable(e).spoken_in(language))?;
    Ok(reply::json(StatusCode::OK, &view(&list, language)))
}

/// `PUT /api/channels/{login}/items`: sets the channel's own list, or
/// (`{"items": null}`) sends it back to the default; answers like `GET`.
///
/// # Errors
///
/// 400 naming the item at fault (or for a bad login), 403 for another
/// broadcaster's channel, 404 for an unknown channel, 503 without the
/// database.
pub(crate) async fn put_items(
    state: WebState,
    caller: Caller,
    raw_login: String,
    language: LanguageRequest,
    body: Value,
) -> Result<Response, WebError> {
    let language = reader_language(&state, language, &raw_login);
    let channel = channel(&state, &caller, &raw_login)
        .await
        .map_err(|e| e.spoken_in(language))?;
    let update = ItemsUpdate::parse_json(&body)
        .map_err(|e| WebError::api(StatusCode::BAD_REQUEST, language.say(&ItemsText(&e))))?;
    let table = match &update {
        ItemsUpdate::Own(table) => Some(table),
        ItemsUpdate::Default => None,
    };
    let list = state
        .store
        .set_channel_items(channel.id, table)
        .await
        .map_err(|e| WebError::database_unavailable(e).spoken_in(language))?;
    tracing::info!(
        channel = %channel.login,
        source = list.source.as_str(),
        items = list.items.len(),
        "channel prize list changed"
    );
    Ok(reply::json(StatusCode::OK, &view(&list, language)))
}
