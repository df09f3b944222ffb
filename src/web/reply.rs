//! Replies every handler shares, and [`WebError`], the one error type of the
//! web layer.
//!
//! A handler returns `Result<Response, WebError>` (warp turns both sides
//! into a reply). A `WebError` carries the status, a plain message for the
//! visitor, how to show it — `{"error": "…"}` for the JSON API, a small HTML
//! page for the pages — and, when something failed underneath, its cause.
//! Turning it into a reply logs the cause — its message as `error`, its
//! whole chain of sources as `cause` (Debug) — at `error` for our own
//! failures and `warn` for refusals and Twitch failing, and never shows it
//! to the visitor.

use std::error::Error as StdError;

use maud::Markup;
use serde::Serialize;
use warp::Reply;
use warp::http::header::{CACHE_CONTROL, HeaderName, LOCATION, RETRY_AFTER, WWW_AUTHENTICATE};
use warp::http::{HeaderValue, StatusCode};
use warp::reply::Response;

use super::view;
use crate::catalog::{ApiText, ConnectPage, ConnectText, Language};

/// Something that failed underneath a [`WebError`].
pub(crate) type Cause = Box<dyn StdError + Send + Sync + 'static>;

/// How a [`WebError`] is shown.
#[derive(Debug, Clone)]
enum Shape {
    /// `{"error": message}`.
    Json,
    /// An HTML page with a heading (boxed: keeps `WebError` small).
    Page(Box<PageShape>),
}

/// How a page error is shown.
#[derive(Debug, Clone)]
struct PageShape {
    title: String,
    /// Relative path from the page to the site root (see `view::message_page`).
    root: &'static str,
    /// The page's language.
    language: Language,
}

/// What a [`WebError`] tells the visitor.
#[derive(Debug)]
enum Said {
    /// Words already in the reader's language (or for operators only).
    Plain(String),
    /// A refusal of the control room, said in the reader's language once
    /// it is known ([`WebError::spoken_in`]); English until then.
    Text(Box<ApiText>),
}

/// The one error type of the web layer.
#[derive(Debug)]
pub(crate) struct WebError {
    status: StatusCode,
    /// Shown to the visitor: plain, never the cause.
    message: Said,
    /// The reader's language, for [`Said::Text`].
    reader: Option<Language>,
    shape: Shape,
    cause: Option<Cause>,
    /// `WWW-Authenticate` for a 401.
    challenge: Option<&'static str>,
    /// `Retry-After` (seconds) for a 429 or 503.
    retry_after: Option<u64>,
}

/// The body of a JSON error.
#[derive(Serialize)]
struct JsonError<'a> {
    error: &'a str,
}

impl WebError {
    /// An error of the JSON API.
    pub(crate) fn api(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: Said::Plain(message.into()),
            reader: None,
            shape: Shape::Json,
            cause: None,
            challenge: None,
            retry_after: None,
        }
    }

    /// An error shown as an HTML page headed `title`, on a page `root` away
    /// from the site root (`"../"` under `/auth/`).
    pub(crate) fn page(
        status: StatusCode,
        title: impl Into<String>,
        message: impl Into<String>,
        root: &'static str,
    ) -> Self {
        Self {
            shape: Shape::Page(Box::new(PageShape {
                title: title.into(),
                root,
                language: Language::default(),
            })),
            ..Self::api(status, message)
        }
    }

    /// Shows a page's own words (back link, Connect) in `language`; the
    /// title and message are the caller's, already in it.
    pub(crate) fn in_language(mut self, language: Language) -> Self {
        if let Shape::Page(page) = &mut self.shape {
            page.language = language;
        }
        self
    }

    /// A refusal of the JSON API in the catalog's words: said in the
    /// language [`WebError::spoken_in`] gives, English without one.
    pub(crate) fn refusal(status: StatusCode, text: ApiText) -> Self {
        Self {
            message: Said::Text(Box::new(text)),
            ..Self::api(status, String::new())
        }
    }

    /// Says a [`WebError::refusal`] in `language` (unless a language was
    /// given already, closer to where the refusal was made).
    pub(crate) fn spoken_in(mut self, language: Language) -> Self {
        self.reader.get_or_insert(language);
        self
    }

    /// The JSON API's answer when the database fails: 503, try again.
    pub(crate) fn database_unavailable(cause: impl Into<Cause>) -> Self {
        Self::refusal(StatusCode::SERVICE_UNAVAILABLE, ApiText::DatabaseUnavailable).caused_by(cause)
    }

    /// The words the visitor reads.
    fn words(&self) -> String {
        match &self.message {
            Said::Plain(words) => words.clone(),
            Said::Text(text) => self.reader.unwrap_or_default().say(text.as_ref()),
        }
    }

    /// Records what failed underneath, for the log.
    pub(crate) fn caused_by(mut self, cause: impl Into<Cause>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    /// Adds `Retry-After: <seconds>` (for a 429 or 503).
    pub(crate) fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Adds `WWW-Authenticate: <scheme>` (for a 401).
    pub(crate) fn with_challenge(mut self, scheme: &'static str) -> Self {
        self.challenge = Some(scheme);
        self
    }

    /// Our own failures (500, 503) are errors; refusals (4xx) and Twitch
    /// failing (502) are warnings. Without a cause, nothing is logged: the
    /// message says it all and the client has it.
    fn log(&self) {
        let Some(cause) = &self.cause else {
            return;
        };
        let ours = self.status.is_server_error() && self.status != StatusCode::BAD_GATEWAY;
        let status = self.status.as_u16();
        // `error` is the message, `cause` (Debug) the whole chain of sources.
        if ours {
            tracing::error!(status, error = %cause, cause = ?cause, "request failed");
        } else {
            tracing::warn!(status, error = %cause, cause = ?cause, "request refused");
        }
    }
}

impl Reply for WebError {
    fn into_response(self) -> Response {
        self.log();
        let words = self.words();
        let mut response = match self.shape {
            Shape::Json => json(self.status, &JsonError { error: &words }),
            Shape::Page(page) => html(
                self.status,
                view::message_page(&page.title, &words, page.root, page.language),
            ),
        };
        if let Some(scheme) = self.challenge {
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static(scheme));
        }
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// `body` as JSON with `status`.
pub(crate) fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    warp::reply::with_status(warp::reply::json(body), status).into_response()
}

/// A page or fragment with `status`; never cached (it shows live data or a
/// one-off answer).
pub(crate) fn html(status: StatusCode, markup: Markup) -> Response {
    let mut response = warp::reply::with_status(warp::reply::html(markup.into_string()), status).into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A redirect to `location` (never cached).
///
/// # Errors
///
/// A 500 page (with links `root` away from the site root) if `location`
/// cannot be a header value.
pub(crate) fn redirect(status: StatusCode, location: &str, root: &'static str) -> Result<Response, WebError> {
    let mut response = warp::reply::with_status(warp::reply(), status).into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    with_header(response, LOCATION, location, root)
}

/// Appends a header whose value is built at run time.
///
/// # Errors
///
/// A 500 page (with links `root` away from the site root) if `value`
/// cannot be a header value.
pub(crate) fn with_header(
    mut response: Response,
    name: HeaderName,
    value: &str,
    root: &'static str,
) -> Result<Response, WebError> {
    let value = HeaderValue::from_str(value).map_err(|e| {
        // No request at hand to choose a language from: the default's.
        let language = Language::default();
        WebError::page(
            StatusCode::INTERNAL_SERVER_ERROR,
            language.say(&ConnectText::Title(ConnectPage::SomethingWentWrong)),
            language.say(&ConnectText::Sentence(ConnectPage::SomethingWentWrong)),
            root,
        )
        .caused_by(format!("the {name} header is not valid: {e}"))
    })?;
    response.headers_mut().append(name, value);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    /// What a client receives for `error`.
    async fn received(error: fn() -> WebError) -> warp::http::Response<warp::hyper::body::Bytes> {
        use warp::Filter as _;
        warp::test::request().reply(&warp::any().map(error)).await
    }

    #[tokio::test]
    async fn an_api_error_is_json_with_its_status_and_never_its_cause() {
        let response =
            received(|| WebError::database_unavailable(Outer(std::io::Error::other("password=hunter2")))).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: serde_json::Value = serde_json::from_slice(response.body()).expect("json");
        assert_eq!(
            body,
            serde_json::json!({"error": "the database is unavailable; try again shortly"})
        );
    }

    #[tokio::test]
    async fn a_page_error_is_an_escaped_html_page_with_its_status_and_challenge() {
        let response = received(|| {
            WebError::page(StatusCode::UNAUTHORIZED, "No <entry>", "Not you & <b>me</b>", "../")
                .with_challenge("Bearer")
        })
        .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[WWW_AUTHENTICATE], "Bearer");
        assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .is_ok_and(|t| t.starts_with("text/html"))
        );
        let body = String::from_utf8_lossy(response.body());
        assert!(body.contains("<h2>No &lt;entry&gt;</h2>"), "{body}");
        assert!(body.contains("Not you &amp; &lt;b&gt;me&lt;/b&gt;"), "{body}");
        assert!(body.contains("href=\"../\""), "{body}");
    }
}
