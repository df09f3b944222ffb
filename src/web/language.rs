//! The language of a page: [`page_language`] takes a visitor's own choice
//! (`?lang=pt-BR`, remembered in the `kyb_lang` cookie for the whole site,
//! so the script's board requests and the Connect pages carry it too), else
//! the language the channels shown speak when they all speak one
//! (`ChannelLanguages::language_for`), else `LANGUAGE`.

use std::collections::HashMap;

use cookie::{Cookie, SameSite};
use warp::http::HeaderMap;
use warp::http::header::{ACCEPT_LANGUAGE, COOKIE, SET_COOKIE};
use warp::reply::Response;

use super::reply;
use super::state::WebState;
use super::status::ChannelStatus;
use crate::catalog::Language;

/// The cookie remembering a visitor's language.
pub(crate) const LANGUAGE_COOKIE: &str = "kyb_lang";
/// How long the language cookie lasts: a year.
const LANGUAGE_COOKIE_DAYS: i64 = 365;

/// What the visitor asked for: `?lang=` (`None` when absent or not a
/// language), the cookie's language and their `Accept-Language`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LanguageRequest {
    /// `?lang=…`, a new choice to remember.
    chosen: Option<Language>,
    /// The `kyb_lang` cookie.
    remembered: Option<Language>,
    /// The first language of `Accept-Language` we speak; the dashboard's
    /// script sends the page's own language in it.
    accepted: Option<Language>,
}

impl LanguageRequest {
    /// Reads `?lang=` and the cookie; values that are not languages are ignored.
    pub(crate) fn from_request(query: &HashMap<String, String>, headers: &HeaderMap) -> Self {
        let remembered = headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(Cookie::split_parse)
            .filter_map(Result::ok)
            .find(|cookie| cookie.name() == LANGUAGE_COOKIE)
            .and_then(|cookie| cookie.value().parse().ok());
        let accepted = headers
            .get(ACCEPT_LANGUAGE)
            .and_then(|value| value.to_str().ok())
            .and_then(accepted_language);
        Self {
            chosen: query.get("lang").and_then(|text| text.parse().ok()),
            remembered,
            accepted,
        }
    }

    /// Reads the cookie and `Accept-Language` of a request without a query.
    pub(crate) fn from_headers(headers: &HeaderMap) -> Self {
        Self::from_request(&HashMap::new(), headers)
    }

    /// The language to answer an API call in: the visitor's choice, else
    /// their `Accept-Language`, else `fallback` (the channel's language).
    pub(crate) fn reader(self, fallback: Language) -> Language {
        self.choice().or(self.accepted).unwrap_or(fallback)
    }

    /// The visitor's own language, if they chose one: `?lang=`, else the cookie.
    pub(crate) fn choice(self) -> Option<Language> {
        self.chosen.or(self.remembered)
    }
}

/// The page's language: the visitor's choice, else the one language of the
/// channels shown, else `LANGUAGE`.
pub(crate) fn page_language(state: &WebState, request: LanguageRequest, channels: &[ChannelStatus]) -> Language {
    if let Some(language) = request.choice() {
        return language;
    }
    let mut spoken = channels
        .iter()
        .map(|channel| state.languages.language_for(&channel.login));
    match spoken.next() {
        Some(first) if spoken.all(|other| other == first) => first,
        _ => state.languages.default_language(),
    }
}

/// The first language of an `Accept-Language` header that we speak, by
/// the visitor's preference (`q`); `None` when none is.
pub(crate) fn accepted_language(header: &str) -> Option<Language> {
    let mut ranked: Vec<(f32, usize, Language)> = header
        .split(',')
        .enumerate()
        .filter_map(|(position, part)| {
            let mut pieces = part.split(';');
            let tag = pieces.next()?.trim();
            let quality = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
            let language = tag
                .parse::<Language>()
                .or_else(|_| tag.split('-').next().unwrap_or_default().parse::<Language>())
                .ok()?;
            (quality > 0.0).then_some((quality, position, language))
        })
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    ranked.first().map(|(_, _, language)| *language)
}

/// The language of a page about one channel: the visitor's choice, else
/// their browser's (`Accept-Language`), else the channel's `LANGUAGE`.
pub(crate) fn channel_page_language(
    state: &WebState,
    request: LanguageRequest,
    accept_language: Option<&str>,
    channel_login: Option<&str>,
) -> Language {
    request
        .choice()
        .or_else(|| accept_language.and_then(accepted_language))
        .unwrap_or_else(|| match channel_login {
            Some(login) => state.languages.language_for(login),
            None => state.languages.default_language(),
        })
}

/// The cookie remembering `language` for the whole site.
fn language_cookie(public_url: &url::Url, language: Language) -> Cookie<'static> {
    let path = public_url.path().trim_end_matches('/');
    Cookie::build((LANGUAGE_COOKIE, language.tag()))
        .path(if path.is_empty() {
            "/".to_owned()
        } else {
            path.to_owned()
        })
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(public_url.scheme() == "https")
        .max_age(cookie::time::Duration::days(LANGUAGE_COOKIE_DAYS))
        .build()
}

/// Remembers a new choice of language in the response.
pub(crate) fn remember(response: Response, state: &WebState, request: LanguageRequest) -> Response {
    let Some(language) = request.chosen else {
        return response;
    };
    let cookie = language_cookie(&state.public_url, language).to_string();
    match reply::with_header(response, SET_COOKIE, &cookie, "") {
        Ok(response) => response,
        Err(e) => warp::Reply::into_response(e),
    }
}

#[cfg(test)]
mod tests {
    use warp::http::HeaderValue;

    use super::*;

    fn request(query: &[(&str, &str)], cookie: Option<&str>) -> LanguageRequest {
        let query = query.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let mut headers = HeaderMap::new();
        if let Some(cookie) = cookie {
            headers.insert(COOKIE, HeaderValue::from_str(cookie).expect("header"));
        }
        LanguageRequest::from_request(&query, &headers)
    }

    #[test]
    fn the_query_wins_over_the_cookie_and_nonsense_is_ignored() {
        let both = request(&[("lang", "pt-BR")], Some("a=b; kyb_lang=en"));
        assert_eq!(both.chosen, Some(Language::PtBr));
        assert_eq!(both.remembered, Some(Language::En));
        let cookie_only = request(&[], Some("kyb_lang=pt-BR"));
        assert_eq!(cookie_only.chosen.or(cookie_only.remembered), Some(Language::PtBr));
        assert_eq!(
            request(&[("lang", "klingon")], Some("kyb_lang=x")),
            LanguageRequest::default()
        );
    }

    #[test]
    fn an_api_reader_is_the_choice_then_accept_language_then_the_channel() {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT_LANGUAGE, HeaderValue::from_static("pt-BR,en;q=0.5"));
        let accepting = LanguageRequest::from_headers(&headers);
        assert_eq!(accepting.reader(Language::En), Language::PtBr);
        assert_eq!(accepting.choice(), None, "Accept-Language is no choice to remember");
        headers.insert(COOKIE, HeaderValue::from_static("kyb_lang=en"));
        assert_eq!(
            LanguageRequest::from_headers(&headers).reader(Language::PtBr),
            Language::En
        );
        assert_eq!(LanguageRequest::default().reader(Language::PtBr), Language::PtBr);
    }

    #[test]
    fn accept_language_picks_the_preferred_language_we_speak() {
        assert_eq!(accepted_language("pt-BR,pt;q=0.9,en;q=0.8"), Some(Language::PtBr));
        assert_eq!(accepted_language("fr-FR, en;q=0.5, pt;q=0.7"), Some(Language::PtBr));
        assert_eq!(accepted_language("en-US,en;q=0.9"), Some(Language::En));
        assert_eq!(accepted_language("pt-PT;q=0, en;q=0.1"), Some(Language::En));
        assert_eq!(accepted_language("fr, de"), None);
        assert_eq!(accepted_language(""), None);
    }

    #[test]
    fn the_language_cookie_is_site_wide_lax_and_lasts_a_year() {
        let url = |text: &str| url::Url::parse(text).expect("url");
        let plain = language_cookie(&url("http://localhost:8080"), Language::PtBr).to_string();
        let parsed = Cookie::parse(plain.as_str()).expect("parses");
        assert_eq!((parsed.name(), parsed.value()), ("kyb_lang", "pt-BR"));
        assert_eq!(parsed.path(), Some("/"));
        assert_eq!(parsed.same_site(), Some(SameSite::Lax));
        assert_ne!(parsed.secure(), Some(true), "not Secure over plain http");
        assert_eq!(parsed.max_age(), Some(cookie::time::Duration::days(365)));
        let behind_proxy = language_cookie(&url("https://bot.example.com/kb/"), Language::En).to_string();
        let parsed = Cookie::parse(behind_proxy.as_str()).expect("parses");
        assert_eq!(parsed.path(), Some("/kb"));
        assert_eq!(parsed.secure(), Some(true));
    }
}
