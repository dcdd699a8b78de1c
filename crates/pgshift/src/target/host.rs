//! Host names as the connection will use them: which are this machine, and when two
//! spellings name the same server.

use std::net::{IpAddr, Ipv4Addr};

/// A host as the connection reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A unix socket folder, `localhost`, or a loopback address (127.0.0.0/8, `::1`,
    /// `::ffff:127.x.x.x`): this machine, whatever the spelling.
    ThisMachine,
    /// Another address.
    Ip(IpAddr),
    /// A name, lowercased, without a trailing dot.
    Name(String),
}

impl Host {
    /// Classifies a host as sqlx gets it (`get_host`: a name, an address, `[::1]`, or a
    /// socket folder starting with `/`). Never asks DNS: only `localhost` is taken to be
    /// this machine by name.
    pub fn of(host: &str) -> Host {
        if host.starts_with('/') {
            return Host::ThisMachine;
        }
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let bare = bare.strip_suffix('.').unwrap_or(bare);
        if bare.eq_ignore_ascii_case("localhost") {
            return Host::ThisMachine;
        }
        match parse_ip(bare) {
            Some(ip) if is_loopback(ip) => Host::ThisMachine,
            Some(ip) => Host::Ip(canonical(ip)),
            None => Host::Name(bare.to_ascii_lowercase()),
        }
    }

    pub fn is_this_machine(&self) -> bool {
        *self == Host::ThisMachine
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    canonical(ip).is_loopback()
}

/// An IP address as the system's resolver reads a numeric host: IPv6, or IPv4 in
/// `inet_aton`'s forms (`127.0.0.1`, `127.1`, `2130706433`, `0x7f.1`, `0177.0.0.1`).
pub fn parse_ip(text: &str) -> Option<IpAddr> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    // An IPv6 zone (`fe80::1%eth0`) is not a loopback; drop it for the comparison.
    if let Some((addr, _zone)) = text.split_once('%') {
        if let Ok(ip) = addr.parse::<std::net::Ipv6Addr>() {
            return Some(IpAddr::V6(ip));
        }
    }
    inet_aton(text).map(IpAddr::V4)
}

fn inet_aton(text: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let numbers: Vec<u64> = parts
        .iter()
        .map(|part| {
            let (digits, radix) =
                if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
                    (hex, 16)
                } else if part.len() > 1 && part.starts_with('0') {
                    (&part[1..], 8)
                } else {
                    (*part, 10)
                };
            if digits.is_empty() && radix != 8 {
                return None;
            }
            if digits.is_empty() {
                return Some(0);
            }
            u64::from_str_radix(digits, radix).ok()
        })
        .collect::<Option<_>>()?;
    let (last, leading) = numbers.split_last()?;
    if leading.iter().any(|&n| n > 255) {
        return None;
    }
    let last_bits = 8 * (4 - leading.len() as u32);
    if last_bits < 64 && *last >= 1u64 << last_bits {
        return None;
    }
    let mut value: u64 = *last;
    for (i, &n) in leading.iter().enumerate() {
        value |= n << (24 - 8 * i as u32);
    }
    Some(Ipv4Addr::from(u32::try_from(value).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_machine_is_decided_by_parsed_addresses() {
        for host in [
            "localhost",
            "LOCALHOST",
            "localhost.",
            "127.0.0.1",
            "127.1",
            "127.255.0.9",
            "2130706433",
            "0x7f.1",
            "0177.0.0.1",
            "::1",
            "[::1]",
            "[0:0:0:0:0:0:0:1]",
            "::ffff:127.0.0.1",
            "/var/run/postgresql",
        ] {
            assert_eq!(Host::of(host), Host::ThisMachine, "{host}");
        }
        for host in [
            "127.prod.example.invalid",
            "127.0.0.1.example.com",
            "localhost.example.com",
            "mylocalhost",
            "10.0.0.1",
            "128.0.0.1",
            "::2",
            "db.example.com",
            "1270.0.0.1",
        ] {
            assert!(!Host::of(host).is_this_machine(), "{host}");
        }
        assert_eq!(Host::of("DB.Example.com."), Host::of("db.example.com"));
        assert_eq!(Host::of("10.1"), Host::of("10.0.0.1"));
        assert_eq!(Host::of("::ffff:10.0.0.1"), Host::of("10.0.0.1"));
    }
}
