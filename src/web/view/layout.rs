//! The page shell every page shares: head (stylesheet and, for the
//! dashboard, its script), the brand header with the page's actions, the
//! footer.

use maud::{DOCTYPE, Markup, html};

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
    /// The header's right-hand side (refresh time, Connect button).
    pub(super) actions: Markup,
}

/// A whole page: `shell` around `main`.
pub(super) fn page(shell: Shell<'_>, main: Markup) -> Markup {
    let root = shell.root;
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title {
                    @if let Some(title) = shell.title { (title) " · " }
                    "KinoYuBot"
                }
                link rel="stylesheet" href={ (root) "static/dashboard.css" };
                @if shell.script {
                    script src={ (root) "static/dashboard.js" } defer {}
                }
            }
            body {
                header class="top" {
                    div class="brand" {
                        span class="mark" aria-hidden="true" { "KY" }
                        div {
                            h1 { "KinoYuBot" }
                            p class="tagline" { "Live giveaways from your Twitch chat" }
                        }
                    }
                    div class="actions" { (shell.actions) }
                }
                main { (main) }
                footer {
                    "Data as JSON: "
                    a href={ (root) "api/status" } { "status" } " · "
                    a href={ (root) "api/raffles" } { "raffles" } " · "
                    a href={ (root) "metrics" } { "metrics" }
                }
            }
        }
    }
}
