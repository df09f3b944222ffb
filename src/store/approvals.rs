//! The `install_owner` and `channel_approvals` tables: the facts
//! `CONNECT_POLICY` decides on (the decision itself is
//! `twitch::auth::policy`).

use super::{Error, Queryable, Store, get};
use crate::channel::ChannelLogin;

/// What the store knows about an account trying to connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OwnerFacts {
    /// The account owns the install (or has just claimed it).
    pub(crate) owner: bool,
    /// Its login was approved by the owner or the admin.
    pub(crate) approved: bool,
}

/// Whether `twitch_user_id` owns the install, claiming it first when nobody
/// does and `claim` is set, and whether `login` is approved.
///
/// The claim is one `INSERT … ON CONFLICT DO NOTHING` on a one-row table, so
/// of two first accounts racing only one becomes the owner; the other sees
/// either the winner's row or none (it committed after this statement's
/// snapshot) and is then not the owner: the check fails closed.
async fn owner_facts(
    db: &impl Queryable,
    twitch_user_id: &str,
    login: &ChannelLogin,
    claim: bool,
) -> Result<OwnerFacts, Error> {
    let rows = db
        .query_rows(
            "WITH claimed AS (
                 INSERT INTO install_owner (twitch_user_id, login)
                 SELECT $1, $2 WHERE $3
                 ON CONFLICT (singleton) DO NOTHING
                 RETURNING twitch_user_id)
             SELECT COALESCE(
                        COALESCE((SELECT twitch_user_id FROM claimed),
                                 (SELECT twitch_user_id FROM install_owner)) = $1,
                        false) AS owner,
                    EXISTS (SELECT 1 FROM channel_approvals WHERE login = $2) AS approved",
            &[&twitch_user_id, &login.as_str(), &claim],
        )
        .await?;
    let row = rows.first().ok_or_else(|| Error::Vanished {
        what: "the owner check".into(),
    })?;
    Ok(OwnerFacts {
        owner: get(row, "owner")?,
        approved: get(row, "approved")?,
    })
}

/// Approves `login`; returns whether it was not approved before.
async fn approve(db: &impl Queryable, login: &ChannelLogin, approved_by: &str) -> Result<bool, Error> {
    let rows = db
        .query_rows(
            "INSERT INTO channel_approvals (login, approved_by) VALUES ($1, $2)
             ON CONFLICT (login) DO NOTHING RETURNING login",
            &[&login.as_str(), &approved_by],
        )
        .await?;
    Ok(!rows.is_empty())
}

impl Store {
    /// Whether the account owns the install (claiming it when nobody does
    /// and `claim` is set) and whether its login is approved.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn owner_facts(
        &self,
        twitch_user_id: &str,
        login: &ChannelLogin,
        claim: bool,
    ) -> Result<OwnerFacts, Error> {
        owner_facts(&self.pool.get().await?, twitch_user_id, login, claim).await
    }

    /// Lets `login` connect under `CONNECT_POLICY=first`; `approved_by`
    /// says who (`admin`, or the owner's login). Returns whether it was not
    /// approved before.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn approve_channel(&self, login: &ChannelLogin, approved_by: &str) -> Result<bool, Error> {
        approve(&self.pool.get().await?, login, approved_by).await
    }
}
