//! `CONNECT_POLICY` (SPEC §10): who may connect a Twitch account to this
//! install. Pure: the facts come from the store, the decision is made here,
//! before any token is stored (see `connect`).
//!
//! - `first` (default): the first account that connects owns the install;
//!   afterwards only the owner, channels listed in `TWITCH_CHANNELS` and
//!   channels approved by the owner or the admin
//!   (`POST /api/channels/{login}/approve`) may connect.
//! - `listed`: only channels listed in `TWITCH_CHANNELS` (approvals do not
//!   count: the operator chose to list every channel by hand).
//! - `anyone`: every account (the behaviour before this setting existed).

use std::fmt;
use std::str::FromStr;

/// The value of `CONNECT_POLICY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConnectPolicy {
    /// The first account owns the install; others need to be listed or approved.
    #[default]
    First,
    /// Only channels in `TWITCH_CHANNELS`.
    Listed,
    /// Every account.
    Anyone,
}

impl ConnectPolicy {
    /// The setting's word for this policy.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::First => "first",
            Self::Listed => "listed",
            Self::Anyone => "anyone",
        }
    }
}

impl fmt::Display for ConnectPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ConnectPolicy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "first" => Ok(Self::First),
            "listed" => Ok(Self::Listed),
            "anyone" => Ok(Self::Anyone),
            _ => Err(format!("invalid value {text:?}; use first, listed or anyone")),
        }
    }
}

/// What the store knows about the account trying to connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Applicant {
    /// Its login is in `TWITCH_CHANNELS`.
    pub(crate) listed: bool,
    /// It owns the install: it was the first to connect, or it is claiming
    /// ownership now because nobody has (only meaningful under `first`).
    pub(crate) owner: bool,
    /// The owner or the admin approved its login.
    pub(crate) approved: bool,
}

/// Why an account may connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Allowed.
    Admitted,
    /// Refused: the install is private to its owner and the channels they allow.
    Refused,
}

/// The decision of `policy` for `applicant`.
pub(crate) fn decide(policy: ConnectPolicy, applicant: Applicant) -> Admission {
    let admitted = match policy {
        ConnectPolicy::Anyone => true,
        ConnectPolicy::Listed => applicant.listed,
        ConnectPolicy::First => applicant.owner || applicant.listed || applicant.approved,
    };
    if admitted {
        Admission::Admitted
    } else {
        Admission::Refused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applicant(listed: bool, owner: bool, approved: bool) -> Applicant {
        Applicant {
            listed,
            owner,
            approved,
        }
    }

    #[test]
    fn the_policy_parses_from_its_three_words_and_nothing_else() {
        assert_eq!("first".parse(), Ok(ConnectPolicy::First));
        assert_eq!(" Listed ".parse(), Ok(ConnectPolicy::Listed));
        assert_eq!("ANYONE".parse(), Ok(ConnectPolicy::Anyone));
        assert!("everyone".parse::<ConnectPolicy>().is_err());
        assert_eq!(ConnectPolicy::default(), ConnectPolicy::First);
        for policy in [ConnectPolicy::First, ConnectPolicy::Listed, ConnectPolicy::Anyone] {
            assert_eq!(policy.as_str().parse(), Ok(policy));
        }
    }

    #[test]
    fn first_admits_the_owner_listed_and_approved_channels_only() {
        use Admission::{Admitted, Refused};
        let first = ConnectPolicy::First;
        assert_eq!(decide(first, applicant(false, true, false)), Admitted);
        assert_eq!(decide(first, applicant(true, false, false)), Admitted);
        assert_eq!(decide(first, applicant(false, false, true)), Admitted);
        assert_eq!(decide(first, applicant(false, false, false)), Refused);
    }

    #[test]
    fn listed_ignores_ownership_and_approvals_and_anyone_admits_all() {
        use Admission::{Admitted, Refused};
        assert_eq!(decide(ConnectPolicy::Listed, applicant(true, false, false)), Admitted);
        assert_eq!(decide(ConnectPolicy::Listed, applicant(false, true, true)), Refused);
        assert_eq!(decide(ConnectPolicy::Anyone, applicant(false, false, false)), Admitted);
    }
}
