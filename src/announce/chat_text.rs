//! Every text the bot says in Twitch chat, in English and Brazilian
//! Portuguese, in one place (issue 15). Pure.
//!
//! Until the language catalog (issue 14) lands, the chat texts live here;
//! each entry is one catalog message with its arguments, so moving them is
//! mechanical. Names and items arrive already neutralised by
//! `super::chat_line`.

use serde::{Deserialize, Serialize};

use super::chat_line::Ineligible;

/// The language of what viewers read (`LANGUAGE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Language {
    /// `en`.
    #[default]
    #[serde(rename = "en")]
    En,
    /// `pt-BR`.
    #[serde(rename = "pt-BR")]
    PtBr,
}

impl Language {
    /// Parses `en` or `pt-BR` (case-insensitive; `pt` and `pt_br` too).
    pub fn parse(word: &str) -> Option<Self> {
        match word.trim().to_ascii_lowercase().as_str() {
            "en" | "en-us" | "en-gb" => Some(Self::En),
            "pt-br" | "pt_br" | "pt" => Some(Self::PtBr),
            _ => None,
        }
    }

    /// The setting's word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::PtBr => "pt-BR",
        }
    }
}

/// One language's chat texts.
pub(crate) struct ChatTexts {
    /// `(mention, item, raffle id, candidates, url)`.
    pub(crate) win: fn(&str, &str, i64, i64, &str) -> String,
    /// Before a redraw's win: `(expired raffle id)`.
    pub(crate) redraw_prefix: fn(i64) -> String,
    /// After a win with a claim window: `(seconds left)`.
    pub(crate) claim_hint: fn(i64) -> String,
    /// `(raffle id, candidates)`.
    pub(crate) no_prize: fn(i64, i64) -> String,
    /// `(mention, item, raffle id)`.
    pub(crate) claimed: fn(&str, &str, i64) -> String,
    /// `(display name, item, raffle id, returned to stock)`.
    pub(crate) unclaimed: fn(&str, &str, i64, bool) -> String,
    /// `(next raffle, active viewers, prizes)`.
    pub(crate) status: fn(&str, i64, &str) -> String,
    /// `(seconds until the next raffle)`.
    pub(crate) next_in: fn(i64) -> String,
    pub(crate) paused: &'static str,
    pub(crate) no_timer: &'static str,
    /// `(units left)`.
    pub(crate) stock_left: fn(i32) -> String,
    pub(crate) unlimited: &'static str,
    pub(crate) no_prizes: &'static str,
    pub(crate) ack_draw: &'static str,
    pub(crate) ack_too_soon: &'static str,
    pub(crate) ack_offline: &'static str,
    pub(crate) ack_paused: &'static str,
    pub(crate) ack_resumed: &'static str,
    /// `(percentage, eligible viewers)`.
    pub(crate) odds: fn(&str, u64) -> String,
    pub(crate) ineligible: fn(Ineligible) -> &'static str,
}

/// "1 min 30 s", "45 s", "2 h 5 min" (the same in both languages).
pub(crate) fn duration_words(seconds: i64) -> String {
    let s = seconds.max(0);
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    match (h, m, sec) {
        (0, 0, sec) => format!("{sec} s"),
        (0, m, 0) => format!("{m} min"),
        (0, m, sec) => format!("{m} min {sec} s"),
        (h, 0, _) => format!("{h} h"),
        (h, m, _) => format!("{h} h {m} min"),
    }
}

const EN: ChatTexts = ChatTexts {
    win: |who, item, id, n, url| {
        let viewers = if n == 1 { "viewer" } else { "viewers" };
        format!("{who} won {item}! Raffle #{id} among {n} {viewers} — {url}")
    },
    redraw_prefix: |parent| format!("Redraw of #{parent}:"),
    claim_hint: |seconds| {
        format!(
            "Say anything in chat (or !claim) within {} to claim it.",
            duration_words(seconds)
        )
    },
    no_prize: |id, n| format!("Raffle #{id} among {n} viewers: no prize this time."),
    claimed: |who, item, id| format!("{who} claimed {item} (raffle #{id}). Enjoy!"),
    unclaimed: |name, item, id, returned| {
        if returned {
            format!("{name} did not claim {item} (raffle #{id}) in time; it goes back to the prize pool.")
        } else {
            format!("{name} did not claim {item} (raffle #{id}) in time; drawing again.")
        }
    },
    status: |next, viewers, prizes| format!("{next} · {viewers} active viewers · prizes: {prizes}"),
    next_in: |seconds| format!("Next raffle in {}", duration_words(seconds)),
    paused: "Raffles are paused",
    no_timer: "No raffle scheduled",
    stock_left: |left| format!("{left} left"),
    unlimited: "unlimited",
    no_prizes: "none",
    ack_draw: "Drawing now!",
    ack_too_soon: "One draw per 10 seconds; try again in a moment.",
    ack_offline: "The stream is offline, so no raffle was drawn.",
    ack_paused: "Raffles paused.",
    ack_resumed: "Raffles resumed.",
    odds: |pct, n| format!("your chance in the next raffle: {pct} (among {n} eligible viewers)"),
    ineligible: |reason| match reason {
        Ineligible::NotActive => "you are not in the next raffle yet: chat a little and you will be.",
        Ineligible::Banned => "you cannot win while banned or timed out.",
        Ineligible::Ignored => "you are on this channel's ignore list, so you cannot win.",
        Ineligible::Broadcaster => "the broadcaster cannot win their own raffles.",
        Ineligible::Cooldown => "you won recently; you can win again after the cooldown.",
    },
};

const PT_BR: ChatTexts = ChatTexts {
    win: |who, item, id, n, url| {
        let viewers = if n == 1 { "espectador" } else { "espectadores" };
        format!("{who} ganhou {item}! Sorteio #{id} entre {n} {viewers} — {url}")
    },
    redraw_prefix: |parent| format!("Novo sorteio do #{parent}:"),
    claim_hint: |seconds| {
        format!(
            "Mande qualquer mensagem no chat (ou !resgatar) em até {} para resgatar.",
            duration_words(seconds)
        )
    },
    no_prize: |id, n| format!("Sorteio #{id} entre {n} espectadores: sem prêmio desta vez."),
    claimed: |who, item, id| format!("{who} resgatou {item} (sorteio #{id}). Aproveite!"),
    unclaimed: |name, item, id, returned| {
        if returned {
            format!("{name} não resgatou {item} (sorteio #{id}) a tempo; o prêmio volta para o estoque.")
        } else {
            format!("{name} não resgatou {item} (sorteio #{id}) a tempo; sorteando de novo.")
        }
    },
    status: |next, viewers, prizes| format!("{next} · {viewers} espectadores ativos · prêmios: {prizes}"),
    next_in: |seconds| format!("Próximo sorteio em {}", duration_words(seconds)),
    paused: "Os sorteios estão pausados",
    no_timer: "Nenhum sorteio agendado",
    stock_left: |left| format!("restam {left}"),
    unlimited: "ilimitado",
    no_prizes: "nenhum",
    ack_draw: "Sorteando agora!",
    ack_too_soon: "Um sorteio a cada 10 segundos; tente de novo em instantes.",
    ack_offline: "A live está offline, então nenhum sorteio foi feito.",
    ack_paused: "Sorteios pausados.",
    ack_resumed: "Sorteios retomados.",
    odds: |pct, n| format!("sua chance no próximo sorteio: {pct} (entre {n} espectadores elegíveis)"),
    ineligible: |reason| match reason {
        Ineligible::NotActive => "você ainda não está no próximo sorteio: converse um pouco no chat e estará.",
        Ineligible::Banned => "você não pode ganhar enquanto estiver banido ou suspenso.",
        Ineligible::Ignored => "você está na lista de ignorados deste canal, então não pode ganhar.",
        Ineligible::Broadcaster => "o streamer não pode ganhar os próprios sorteios.",
        Ineligible::Cooldown => "você ganhou há pouco; pode ganhar de novo depois do intervalo.",
    },
};

/// The texts of `language`.
pub(crate) fn texts(language: Language) -> &'static ChatTexts {
    match language {
        Language::En => &EN,
        Language::PtBr => &PT_BR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_minutes_and_seconds() {
        assert_eq!(duration_words(45), "45 s");
        assert_eq!(duration_words(90), "1 min 30 s");
        assert_eq!(duration_words(120), "2 min");
        assert_eq!(duration_words(3600 + 300), "1 h 5 min");
        assert_eq!(duration_words(-5), "0 s");
    }

    #[test]
    fn languages_parse_from_their_setting_words() {
        assert_eq!(Language::parse("en"), Some(Language::En));
        assert_eq!(Language::parse("pt-BR"), Some(Language::PtBr));
        assert_eq!(Language::parse("fr"), None);
        for language in [Language::En, Language::PtBr] {
            assert_eq!(Language::parse(language.as_str()), Some(language));
        }
    }

    #[test]
    fn no_text_starts_a_line_with_a_command_character() {
        for language in [Language::En, Language::PtBr] {
            let t = texts(language);
            for text in [
                t.paused,
                t.no_timer,
                t.ack_draw,
                t.ack_too_soon,
                t.ack_offline,
                t.ack_paused,
                t.ack_resumed,
                &(t.no_prize)(1, 2),
                &(t.redraw_prefix)(1),
                &(t.unclaimed)("n", "i", 1, true),
            ] {
                assert!(!text.starts_with('/') && !text.starts_with('.'), "{text}");
            }
        }
    }
}
