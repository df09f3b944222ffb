//! Who is asking: the client's network address, as the key of per-client
//! limits (pending OAuth states, admin-token failures).
//!
//! The address is the TCP peer's. Behind a reverse proxy every request comes
//! from the proxy, so per-client limits then act as limits for everyone
//! behind it (forwarded headers are not trusted: any client can write them).
//! IPv6 clients are keyed by their /64, which one subscriber usually holds
//! whole.

use std::convert::Infallible;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use warp::Filter;

/// The peer address of a connection, put into each request's extensions by
/// the server (`web::server`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientAddr(pub(crate) SocketAddr);

/// The key of a client for per-client limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ClientKey {
    /// An IPv4 address (IPv4-mapped IPv6 addresses included).
    V4(Ipv4Addr),
    /// The first 64 bits of an IPv6 address.
    V6Prefix([u16; 4]),
    /// No address known (in-process requests).
    Unknown,
}

impl ClientKey {
    /// The key of the client at `addr` (`None`: unknown).
    pub(crate) fn of(addr: Option<SocketAddr>) -> Self {
        match addr.map(|a| a.ip().to_canonical()) {
            None => Self::Unknown,
            Some(IpAddr::V4(v4)) => Self::V4(v4),
            Some(IpAddr::V6(v6)) => {
                let s = v6.segments();
                Self::V6Prefix([s[0], s[1], s[2], s[3]])
            }
        }
    }
}

impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::V4(v4) => write!(f, "{v4}"),
            Self::V6Prefix([a, b, c, d]) => write!(f, "{a:x}:{b:x}:{c:x}:{d:x}::/64"),
            Self::Unknown => f.write_str("unknown"),
        }
    }
}

/// Extracts the requesting client's key: the address our server recorded,
/// else warp's own (`warp::serve`), else unknown.
pub(crate) fn client_key() -> impl Filter<Extract = (ClientKey,), Error = Infallible> + Clone {
    warp::ext::optional::<ClientAddr>()
        .and(warp::addr::remote())
        .map(|ours: Option<ClientAddr>, warps: Option<SocketAddr>| ClientKey::of(ours.map(|c| c.0).or(warps)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_are_keyed_by_ipv4_address_or_ipv6_slash_64() {
        let v4: SocketAddr = "203.0.113.5:4242".parse().expect("addr");
        assert_eq!(ClientKey::of(Some(v4)).to_string(), "203.0.113.5");
        let mapped: SocketAddr = "[::ffff:203.0.113.5]:1".parse().expect("addr");
        assert_eq!(ClientKey::of(Some(mapped)), ClientKey::of(Some(v4)));
        let a: SocketAddr = "[2001:db8:1:2:aaaa::1]:1".parse().expect("addr");
        let b: SocketAddr = "[2001:db8:1:2:bbbb::9]:2".parse().expect("addr");
        let other: SocketAddr = "[2001:db8:1:3::1]:1".parse().expect("addr");
        assert_eq!(ClientKey::of(Some(a)), ClientKey::of(Some(b)));
        assert_ne!(ClientKey::of(Some(a)), ClientKey::of(Some(other)));
        assert_eq!(ClientKey::of(Some(a)).to_string(), "2001:db8:1:2::/64");
        assert_eq!(ClientKey::of(None).to_string(), "unknown");
    }
}
