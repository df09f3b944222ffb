//! A viewer's chance in the next round (`!odds`, and the control room's
//! viewer list), by the same rules as the draw (SPEC §5 step 2, §11). Pure.
//!
//! The chance is the viewer's weight ÷ the total weight of the eligible
//! viewers × the chance that the round has a prize at all (the sum of the
//! in-stock items' fixed probabilities). The eligible set comes from the
//! same query as the draw's snapshot, so the two cannot disagree; this
//! module only explains a viewer who is not in it, in the draw's order of
//! exclusions.

use super::draw::DrawItem;
use crate::announce::chat_line::Ineligible;

/// What the database says about one viewer, for explaining their odds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ViewerFacts {
    /// Seen in chat within `ACTIVE_WINDOW`.
    pub active: bool,
    /// Banned, or timed out now.
    pub banned: bool,
    /// The channel's broadcaster.
    pub broadcaster: bool,
    /// On the ignore list (or an anonymous reader).
    pub ignored: bool,
    /// Won in this channel within `WINNER_COOLDOWN`.
    pub recent_winner: bool,
    /// Subscriber badge on their latest message.
    pub subscriber: bool,
}

/// The chance that a round has a prize: the in-stock items' probabilities
/// (at most 1; an out-of-stock item's share is "no prize").
pub fn prize_chance(items: &[DrawItem]) -> f64 {
    items
        .iter()
        .filter(|item| item.remaining_stock != Some(0))
        .map(|item| item.probability)
        .sum::<f64>()
        .clamp(0.0, 1.0)
}

/// `weight / total_weight × prize_chance(items)`; 0 when nobody is eligible.
pub fn chance(weight: u32, total_weight: u64, items: &[DrawItem]) -> f64 {
    if total_weight == 0 {
        return 0.0;
    }
    (f64::from(weight) / total_weight as f64 * prize_chance(items)).clamp(0.0, 1.0)
}

/// The viewer's weight if eligible (1, or `subscriber_luck` for
/// subscribers), otherwise the first reason the draw would leave them out.
/// `None` facts: the viewer never chatted here.
pub fn eligibility(facts: Option<&ViewerFacts>, subscriber_luck: u8) -> Result<u32, Ineligible> {
    let Some(facts) = facts else {
        return Err(Ineligible::NotActive);
    };
    if facts.broadcaster {
        return Err(Ineligible::Broadcaster);
    }
    if facts.ignored {
        return Err(Ineligible::Ignored);
    }
    if facts.banned {
        return Err(Ineligible::Banned);
    }
    if facts.recent_winner {
        return Err(Ineligible::Cooldown);
    }
    if !facts.active {
        return Err(Ineligible::NotActive);
    }
    Ok(if facts.subscriber {
        u32::from(subscriber_luck.max(1))
    } else {
        1
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(p: f64, stock: Option<u32>) -> DrawItem {
        DrawItem {
            name: "x".into(),
            probability: p,
            remaining_stock: stock,
        }
    }

    #[test]
    fn chance_is_weight_share_times_prize_chance() {
        let items = [item(0.05, Some(3)), item(0.45, None), item(0.2, Some(0))];
        assert!((prize_chance(&items) - 0.5).abs() < 1e-12);
        assert!((chance(1, 37, &items) - 0.5 / 37.0).abs() < 1e-12);
        assert!((chance(2, 4, &items) - 0.25).abs() < 1e-12);
        assert_eq!(chance(1, 0, &items), 0.0);
        assert_eq!(chance(1, 1, &[]), 0.0);
    }

    #[test]
    fn the_reasons_follow_the_draws_order() {
        let active = ViewerFacts {
            active: true,
            ..ViewerFacts::default()
        };
        assert_eq!(eligibility(Some(&active), 3), Ok(1));
        let subscriber = ViewerFacts {
            subscriber: true,
            ..active
        };
        assert_eq!(eligibility(Some(&subscriber), 3), Ok(3));
        assert_eq!(eligibility(None, 1), Err(Ineligible::NotActive));
        let banned = ViewerFacts { banned: true, ..active };
        assert_eq!(eligibility(Some(&banned), 1), Err(Ineligible::Banned));
        let ignored_and_banned = ViewerFacts {
            ignored: true,
            ..banned
        };
        assert_eq!(eligibility(Some(&ignored_and_banned), 1), Err(Ineligible::Ignored));
        let cooldown = ViewerFacts {
            recent_winner: true,
            ..active
        };
        assert_eq!(eligibility(Some(&cooldown), 1), Err(Ineligible::Cooldown));
        let idle = ViewerFacts::default();
        assert_eq!(eligibility(Some(&idle), 1), Err(Ineligible::NotActive));
        let broadcaster = ViewerFacts {
            broadcaster: true,
            ..banned
        };
        assert_eq!(eligibility(Some(&broadcaster), 1), Err(Ineligible::Broadcaster));
    }
}
