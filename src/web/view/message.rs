//! The page the OAuth flow answers with when it cannot go on: a heading,
//! one sentence, and the ways back.

use maud::{Markup, html};

use super::layout::{Shell, page as shell_page};
use crate::catalog::{DashboardText, Language};

/// A page headed `title` saying `message` in `language`, served `root`
/// away from the site root (see `layout::Shell::root`).
pub(crate) fn page(title: &str, message: &str, root: &'static str, language: Language) -> Markup {
    let shell = Shell {
        title: Some(title),
        root,
        script: false,
        control: false,
        actions: html! {},
        language,
        switch: false,
    };
    shell_page(
        shell,
        html! {
            section class="message" {
                h2 { (title) }
                p { (message) }
                p {
                    a href=(if root.is_empty() { "./" } else { root }) { (language.say(&DashboardText::BackToDashboard)) }
                    " · "
                    a href={ (root) "auth/twitch" } { (language.say(&DashboardText::ConnectWithTwitch)) }
                }
            }
        },
    )
}
