//! Which proxies in front of the portal may say who the client is. A request that comes from one
//! of them has its client address taken from `X-Forwarded-For`, read from the right: each trusted
//! proxy appends the address it saw, so the right-most address that is not a trusted proxy is the
//! client. Anything a client writes into the header itself stands to the left of that and is never
//! believed.

use std::net::IpAddr;
use std::str::FromStr;

/// One network of trusted proxies, e.g. `10.0.0.0/8`, `::1/128` or a lone address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("{text:?} is not an IP address or CIDR network"))?;
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or_else(|| format!("{text:?}: the prefix length must be 0 to {bits}"))?,
        };
        Ok(Cidr { network, prefix })
    }
}

impl Cidr {
    /// Whether `address` lies in this network.
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = match address {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
            v4 => v4,
        };
        match (self.network, address) {
            (IpAddr::V4(net), IpAddr::V4(addr)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(addr) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(addr)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(addr) & mask
            }
            _ => false,
        }
    }
}

/// The trusted proxies (none by default: the peer is the client).
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    /// The given networks.
    pub fn new(networks: Vec<Cidr>) -> Self {
        Self(networks)
    }

    fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|network| network.contains(address))
    }

    /// The client's address: the peer, unless the peer is a trusted proxy; then the right-most
    /// address of the `X-Forwarded-For` values (in header order) that is not a trusted proxy.
    /// An unreadable entry stops the walk at the last address known good.
    pub fn client(&self, peer: IpAddr, forwarded_for: &[&str]) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let mut client = peer;
        let hops = forwarded_for
            .iter()
            .flat_map(|value| value.split(','))
            .collect::<Vec<_>>();
        for hop in hops.into_iter().rev() {
            let Ok(address) = hop.trim().parse::<IpAddr>() else {
                break;
            };
            client = address;
            if !self.trusts(address) {
                break;
            }
        }
        client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    fn proxies(networks: &[&str]) -> TrustedProxies {
        TrustedProxies::new(networks.iter().map(|n| n.parse().expect("cidr")).collect())
    }

    #[test]
    fn networks_parse_and_contain() {
        let net: Cidr = "10.1.0.0/16".parse().expect("cidr");
        assert!(net.contains(ip("10.1.200.3")));
        assert!(!net.contains(ip("10.2.0.1")));
        assert!("::1".parse::<Cidr>().expect("v6").contains(ip("::1")));
        assert!(
            "127.0.0.0/8"
                .parse::<Cidr>()
                .expect("v4")
                .contains(ip("::ffff:127.0.0.1"))
        );
        assert!(
            "0.0.0.0/0"
                .parse::<Cidr>()
                .expect("all")
                .contains(ip("8.8.8.8"))
        );
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("proxy.local".parse::<Cidr>().is_err());
    }

    #[test]
    fn the_client_is_the_rightmost_untrusted_hop() {
        let trusted = proxies(&["10.0.0.0/8"]);
        // The client wrote 1.2.3.4 itself; the proxy appended the address it saw.
        assert_eq!(
            trusted.client(ip("10.0.0.5"), &["1.2.3.4, 203.0.113.9"]),
            ip("203.0.113.9")
        );
        // Two trusted proxies in a row.
        assert_eq!(
            trusted.client(ip("10.0.0.5"), &["198.51.100.7, 10.0.0.9"]),
            ip("198.51.100.7")
        );
        // Several headers count in order.
        assert_eq!(
            trusted.client(ip("10.0.0.5"), &["1.2.3.4", "203.0.113.9"]),
            ip("203.0.113.9")
        );
        // A peer that is not a proxy is the client, whatever it writes.
        assert_eq!(
            trusted.client(ip("203.0.113.50"), &["1.2.3.4"]),
            ip("203.0.113.50")
        );
        // Garbage stops the walk at the last good address.
        assert_eq!(
            trusted.client(ip("10.0.0.5"), &["1.2.3.4, not-an-ip"]),
            ip("10.0.0.5")
        );
        assert_eq!(
            TrustedProxies::default().client(ip("10.0.0.5"), &["1.2.3.4"]),
            ip("10.0.0.5")
        );
    }
}
