//! Replaying a recorded raffle: the one check behind `kinoyubot verify`.
//!
//! Pure: it takes what the store read (the record and the stored draw
//! inputs) and recomputes the draw with [`super::draw::draw`], naming every
//! difference it finds. Stored inputs that no longer parse (a tampered seed
//! or snapshot) are differences too, not errors.

use super::draw::{self, CandidateSnapshot, DrawItem, DrawOutcome, Seed};
use super::record::{Outcome, RaffleAudit, RaffleRecord, Trigger};

/// What a redraw is checked against besides its own inputs: the expired
/// round it redraws, and every winner whose claim expired in its chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedrawAudit {
    /// The expired round's stored snapshot.
    pub parent_candidates_json: String,
    /// User ids of the winners whose claims expired in the chain, up to and
    /// including the expired round's.
    pub expired_winners: Vec<String>,
}

/// What replaying a raffle found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// Seed, snapshot and items replay to the recorded outcome.
    Verified,
    /// A round skipped while offline: nothing was drawn, nothing to replay.
    SkippedOffline,
    /// What differs, one sentence each.
    Mismatch(Vec<String>),
}

/// Recomputes a recorded raffle from its stored seed, snapshot and items;
/// a redraw also from the round it redraws (see [`verify_redraw`]).
pub fn verify(record: &RaffleRecord, audit: &RaffleAudit) -> Verification {
    verify_redraw(record, audit, None)
}

/// As [`verify`], and for a redraw (trigger `redraw`): its winner is
/// replayed with [`draw::draw_winner`] for the expired round's item, and its
/// snapshot must be the expired round's minus every winner whose claim
/// expired in the chain (`redraw`; without it that is reported missing).
pub fn verify_redraw(record: &RaffleRecord, audit: &RaffleAudit, redraw: Option<&RedrawAudit>) -> Verification {
    if record.trigger == Trigger::Redraw {
        return replay_redraw(record, audit, redraw);
    }
    let mut problems = Vec::new();
    let seed = Seed::from_bytes(&audit.seed)
        .map_err(|e| problems.push(format!("seed: {e}")))
        .ok();
    let snapshot = CandidateSnapshot::from_json(&audit.candidates_json)
        .map_err(|e| problems.push(format!("candidates: {e}")))
        .ok();
    let draw_items = serde_json::from_str::<Vec<DrawItem>>(&audit.items_json)
        .map_err(|e| problems.push(format!("items: {e}")))
        .ok();
    if let Some(snapshot) = &snapshot {
        let digest = snapshot.digest_hex();
        if digest != record.candidates_digest {
            problems.push(format!(
                "candidates digest: recorded {} but the stored snapshot hashes to {digest}",
                record.candidates_digest
            ));
        }
        if i64::try_from(snapshot.len()).ok() != Some(i64::from(record.candidate_count)) {
            problems.push(format!(
                "candidate count: recorded {} but the snapshot has {}",
                record.candidate_count,
                snapshot.len()
            ));
        }
    }
    if record.outcome == Outcome::SkippedOffline {
        return if problems.is_empty() {
            Verification::SkippedOffline
        } else {
            Verification::Mismatch(problems)
        };
    }
    let (Some(seed), Some(snapshot), Some(draw_items)) = (seed, snapshot, draw_items) else {
        return Verification::Mismatch(problems);
    };
    let replayed = draw::draw(&seed, &snapshot, &draw_items);
    if replayed.outcome() != record.outcome {
        problems.push(format!(
            "outcome: recorded {} but replay gives {}",
            record.outcome,
            replayed.outcome()
        ));
    }
    let (replayed_item, replayed_winner) = match &replayed {
        DrawOutcome::Won {
            item_name,
            winner_user_id,
            ..
        } => (Some(item_name.as_str()), Some(winner_user_id.as_str())),
        DrawOutcome::NoPrize | DrawOutcome::NoCandidates => (None, None),
    };
    if replayed_item != record.item_name.as_deref() {
        problems.push(format!(
            "item: recorded {:?} but replay gives {:?}",
            record.item_name, replayed_item
        ));
    }
    let recorded_winner = record.winner.as_ref().map(|w| w.user_id.as_str());
    if replayed_winner != recorded_winner {
        problems.push(format!(
            "winner: recorded {recorded_winner:?} but replay gives {replayed_winner:?}"
        ));
    }
    if problems.is_empty() {
        Verification::Verified
    } else {
        Verification::Mismatch(problems)
    }
}

/// [`verify_redraw`] for a redraw.
fn replay_redraw(record: &RaffleRecord, audit: &RaffleAudit, redraw: Option<&RedrawAudit>) -> Verification {
    let mut problems = Vec::new();
    let seed = Seed::from_bytes(&audit.seed)
        .map_err(|e| problems.push(format!("seed: {e}")))
        .ok();
    let snapshot = CandidateSnapshot::from_json(&audit.candidates_json)
        .map_err(|e| problems.push(format!("candidates: {e}")))
        .ok();
    let items = serde_json::from_str::<Vec<DrawItem>>(&audit.items_json)
        .map_err(|e| problems.push(format!("items: {e}")))
        .ok();
    if let Some(snapshot) = &snapshot
        && snapshot.digest_hex() != record.candidates_digest
    {
        problems.push(format!(
            "candidates digest: recorded {} but the stored snapshot hashes to {}",
            record.candidates_digest,
            snapshot.digest_hex()
        ));
    }
    match redraw {
        None => problems.push("redraw: the expired round it redraws was not found".to_owned()),
        Some(redraw) => match (CandidateSnapshot::from_json(&redraw.parent_candidates_json), &snapshot) {
            (Ok(parent), Some(snapshot)) => {
                let expected = parent.without(&redraw.expired_winners);
                if expected.digest_hex() != snapshot.digest_hex() {
                    problems.push(format!(
                        "redraw snapshot: expected the expired round's {} candidates minus the {} expired \
                         winners ({} candidates, digest {}), but it has {} (digest {})",
                        parent.len(),
                        redraw.expired_winners.len(),
                        expected.len(),
                        expected.digest_hex(),
                        snapshot.len(),
                        snapshot.digest_hex()
                    ));
                }
            }
            (Err(e), _) => problems.push(format!("the expired round's candidates: {e}")),
            (_, None) => {}
        },
    }
    let (Some(seed), Some(snapshot)) = (seed, snapshot) else {
        return Verification::Mismatch(problems);
    };
    let replayed = draw::draw_winner(&seed, &snapshot).map(|(_, user_id)| user_id);
    let recorded_winner = record.winner.as_ref().map(|w| w.user_id.clone());
    if replayed != recorded_winner {
        problems.push(format!(
            "winner: recorded {recorded_winner:?} but replay gives {replayed:?}"
        ));
    }
    let item = items
        .as_ref()
        .and_then(|items| items.first())
        .map(|item| item.name.as_str());
    let expected_item = replayed.as_ref().and(item);
    if expected_item != record.item_name.as_deref() {
        problems.push(format!(
            "item: recorded {:?} but the redrawn item is {:?}",
            record.item_name, expected_item
        ));
    }
    let expected_outcome = if replayed.is_some() {
        Outcome::Won
    } else {
        Outcome::NoCandidates
    };
    if expected_outcome != record.outcome {
        problems.push(format!(
            "outcome: recorded {} but replay gives {expected_outcome}",
            record.outcome
        ));
    }
    if problems.is_empty() {
        Verification::Verified
    } else {
        Verification::Mismatch(problems)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::raffle::draw::Candidate;
    use crate::raffle::record::{Trigger, Winner};

    fn snapshot() -> CandidateSnapshot {
        let candidates = [("alice", 1), ("bob", 2), ("carol", 3)]
            .into_iter()
            .map(|(id, weight)| Candidate {
                user_id: id.to_owned(),
                weight,
            })
            .collect();
        CandidateSnapshot::new(candidates).unwrap()
    }

    fn items() -> Vec<DrawItem> {
        vec![DrawItem {
            name: "Key".into(),
            probability: 1.0,
            remaining_stock: None,
        }]
    }

    /// A record of what the draw really gave for `seed`, and its audit.
    fn recorded(seed: [u8; 32]) -> (RaffleRecord, RaffleAudit) {
        let snapshot = snapshot();
        let outcome = draw::draw(&Seed::new(seed), &snapshot, &items());
        let (item_name, winner) = match &outcome {
            DrawOutcome::Won {
                item_name,
                winner_user_id,
                ..
            } => (
                Some(item_name.clone()),
                Some(Winner {
                    user_id: winner_user_id.clone(),
                    login: winner_user_id.clone(),
                    display_name: winner_user_id.clone(),
                }),
            ),
            DrawOutcome::NoPrize | DrawOutcome::NoCandidates => (None, None),
        };
        let record = RaffleRecord {
            id: 1,
            channel_login: "chan".into(),
            channel_display_name: "Chan".into(),
            slot: None,
            trigger: Trigger::Manual,
            outcome: outcome.outcome(),
            item_name,
            winner,
            candidates_digest: snapshot.digest_hex(),
            candidate_count: 3,
            created_at: Utc::now(),
            skip_reason: None,
            delivery: None,
            deliveries: Vec::new(),
            claim: None,
            redraw_of: None,
            excluded: crate::raffle::eligibility::ExclusionCounts::default(),
        };
        let audit = RaffleAudit {
            seed: seed.to_vec(),
            candidates_json: snapshot.to_json().unwrap(),
            items_json: serde_json::to_string(&items()).unwrap(),
        };
        (record, audit)
    }

    /// A redraw of a round over [`snapshot`] whose winner `expired` did not
    /// claim, as the sweeper records it, and its audits.
    fn redrawn(seed: [u8; 32], expired: &str) -> (RaffleRecord, RaffleAudit, RedrawAudit) {
        let parent = snapshot();
        let remaining = parent.without(&[expired.to_owned()]);
        let (_, winner) = draw::draw_winner(&Seed::new(seed), &remaining).unwrap();
        let (mut record, _) = recorded(seed);
        record.trigger = Trigger::Redraw;
        record.redraw_of = Some(1);
        record.outcome = Outcome::Won;
        record.item_name = Some("Key".into());
        record.winner = Some(Winner {
            user_id: winner.clone(),
            login: winner.clone(),
            display_name: winner,
        });
        record.candidates_digest = remaining.digest_hex();
        record.candidate_count = 2;
        let audit = RaffleAudit {
            seed: seed.to_vec(),
            candidates_json: remaining.to_json().unwrap(),
            items_json: serde_json::to_string(&items()).unwrap(),
        };
        let redraw = RedrawAudit {
            parent_candidates_json: parent.to_json().unwrap(),
            expired_winners: vec![expired.to_owned()],
        };
        (record, audit, redraw)
    }

    #[test]
    fn a_redraw_verifies_against_its_parent_minus_the_expired_winner() {
        let (record, audit, redraw) = redrawn([5; 32], "carol");
        assert_eq!(verify_redraw(&record, &audit, Some(&redraw)), Verification::Verified);
        assert!(
            matches!(verify(&record, &audit), Verification::Mismatch(_)),
            "needs its parent"
        );
    }

    #[test]
    fn a_redraw_whose_snapshot_keeps_the_expired_winner_is_a_mismatch() {
        let (record, mut audit, redraw) = redrawn([5; 32], "carol");
        // The snapshot stored is the parent's whole one (carol still in it).
        let whole = snapshot();
        audit.candidates_json = whole.to_json().unwrap();
        let mut record = record;
        record.candidates_digest = whole.digest_hex();
        let Verification::Mismatch(problems) = verify_redraw(&record, &audit, Some(&redraw)) else {
            panic!("a redraw that kept the expired winner verified");
        };
        assert!(
            problems.iter().any(|p| p.starts_with("redraw snapshot: ")),
            "{problems:?}"
        );
    }

    #[test]
    fn a_faithful_record_verifies() {
        let (record, audit) = recorded([3; 32]);
        assert_eq!(record.outcome, Outcome::Won, "a probability-1 item is always won");
        assert_eq!(verify(&record, &audit), Verification::Verified);
    }

    #[test]
    fn a_forged_winner_is_named() {
        let (mut record, audit) = recorded([3; 32]);
        let real = record.winner.clone().unwrap().user_id;
        let forged = if real == "alice" { "bob" } else { "alice" };
        if let Some(winner) = &mut record.winner {
            winner.user_id = forged.into();
        }
        assert_eq!(
            verify(&record, &audit),
            Verification::Mismatch(vec![format!(
                "winner: recorded Some({forged:?}) but replay gives Some({real:?})"
            )])
        );
    }

    #[test]
    fn a_forged_outcome_names_outcome_item_and_winner() {
        let (mut record, audit) = recorded([3; 32]);
        record.outcome = Outcome::NoPrize;
        record.item_name = None;
        record.winner = None;
        let Verification::Mismatch(problems) = verify(&record, &audit) else {
            panic!("a forged outcome verified");
        };
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert_eq!(problems[0], "outcome: recorded no_prize but replay gives won");
        assert!(problems[1].starts_with("item: recorded None"), "{problems:?}");
        assert!(problems[2].starts_with("winner: recorded None"), "{problems:?}");
    }

    #[test]
    fn a_tampered_snapshot_or_seed_is_a_difference_not_an_error() {
        let (record, mut audit) = recorded([3; 32]);
        audit.candidates_json = r#"[["alice",1],["bob",2],["carol",30]]"#.into();
        let Verification::Mismatch(problems) = verify(&record, &audit) else {
            panic!("a tampered snapshot verified");
        };
        assert!(problems[0].starts_with("candidates digest: recorded"), "{problems:?}");

        let (record, mut audit) = recorded([3; 32]);
        audit.seed.pop();
        assert_eq!(
            verify(&record, &audit),
            Verification::Mismatch(vec!["seed: seed must be exactly 32 bytes, got 31".into()])
        );
        audit.candidates_json = "not json".into();
        let Verification::Mismatch(problems) = verify(&record, &audit) else {
            panic!("unreadable inputs verified");
        };
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[1].starts_with("candidates: "), "{problems:?}");
    }

    #[test]
    fn a_skipped_round_has_nothing_to_replay_unless_its_snapshot_disagrees() {
        let empty = CandidateSnapshot::default();
        let mut record = recorded([3; 32]).0;
        record.outcome = Outcome::SkippedOffline;
        record.item_name = None;
        record.winner = None;
        record.candidate_count = 0;
        record.candidates_digest = empty.digest_hex();
        let audit = RaffleAudit {
            seed: vec![9; 32],
            candidates_json: empty.to_json().unwrap(),
            items_json: "[]".into(),
        };
        assert_eq!(verify(&record, &audit), Verification::SkippedOffline);
        record.candidate_count = 5;
        assert!(matches!(verify(&record, &audit), Verification::Mismatch(_)));
    }
}
