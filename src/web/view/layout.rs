//! The page shell every page shares: head (stylesheet and, for the
//! dashboard, its script), the brand header with the page's actions and
//! the language switch, the footer.

use maud::{DOCTYPE, Markup, html};

use crate::catalog::{DashboardText, Language};

/// What a page puts in the shell.
pub(super) struct Shell<'a> {
    /// Shown before "· KinoYuBot" in the title; `None` for the dashboard.
    pub(super) title: Option<&'a str>,
    /// Relative path from the page to the site root: `""` at `/`, `"../"`
    /// under `/auth/`. Links are relative so the bot also works behind a
    /// reverse proxy that serves it under a path prefix.
    pub(super) root: &'static str,
    /// Whether the page loads the dashboard script.
    pub(super) script: bool,
    /// Whether the page loads the control room's script (a signed-in
    /// streamer's dashboard).
    pub(super) control: bool,
    /// The header's right-hand side (refresh time, Connect button).
    pub(super) actions: Markup,
    /// The page's language.
    pub(super) language: Language,
    /// Whether to offer the language switch (links to `?lang=…` on the
    /// dashboard, which remembers the choice in a cookie).
    pub(super) switch: bool,
}

/// A whole page: `shell` around `main`.
pub(super) fn page(shell: Shell<'_>, main: Markup) -> Markup {
    let root = shell.root;
    let language = shell.language;
    html! {
        (DOCTYPE)
        html lang=(language.tag()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title {
                    @if let Some(title) = shell.title { (title) " · " }
                    "KinoYuBot"
                }
                link rel="stylesheet" href={ (root) "static/dashboard.css" };
                link rel="icon" href={ (root) "static/favicon.svg" } type="image/svg+xml";
                @if shell.script {
                    script src={ (root) "static/dashboard.js" } defer {}
                }
                @if shell.control {
                    script src={ (root) "static/control.js" } defer {}
                }
            }
            body {
                header class="top" {
                    div class="brand" {
                        span class="mark" aria-hidden="true" { "KY" }
                        div {
                            h1 { "KinoYuBot" }
                            p class="tagline" { (language.say(&DashboardText::Tagline)) }
                        }
                    }
                    div class="actions" {
                        (shell.actions)
                        @if shell.switch { (switch(language)) }
                    }
                }
                main { (main) }
                footer {
                    (language.say(&DashboardText::FooterData))
                    a href={ (root) "api/status" } { (language.say(&DashboardText::FooterStatus)) } " · "
                    a href={ (root) "api/raffles" } { (language.say(&DashboardText::FooterRaffles)) } " · "
                    a href={ (root) "metrics" } { (language.say(&DashboardText::FooterMetrics)) }
                }
            }
        }
    }
}

/// The language switch: every language by its own name, the current one
/// marked.
fn switch(current: Language) -> Markup {
    html! {
        nav id="language" class="language" aria-label=(current.say(&DashboardText::LanguageLabel)) {
            @for (i, language) in Language::ALL.into_iter().enumerate() {
                @if i > 0 { " · " }
                @if language == current {
                    a href={ "?lang=" (language.tag()) } hreflang=(language.tag()) lang=(language.tag())
                        aria-current="true" { (language.name()) }
                } @else {
                    a href={ "?lang=" (language.tag()) } hreflang=(language.tag()) lang=(language.tag()) {
                        (language.name())
                    }
                }
            }
        }
    }
}

/// Catalog text with `code` spans: text between backticks becomes `<code>`.
/// Every piece is escaped by maud.
pub(super) fn rich(text: &str) -> Markup {
    html! {
        @for (i, piece) in text.split('`').enumerate() {
            @if i % 2 == 1 { code { (piece) } } @else { (piece) }
        }
    }
}
