//! The row counts are background work beside pg_dump: when the server process that runs
//! them is on this machine, its CPU priority is lowered to the least (nice 19), so that on a
//! busy machine they take only the CPU time pg_dump and its server process leave, instead
//! of a third of it. A server elsewhere is left alone (the counts do not compete with the
//! pg_dump on this machine there).
//!
//! The process is only reniced when it is certainly the one serving our connection: it is
//! in our network namespace and holds the server end of our TCP connection (the addresses
//! and ports the server reports for the connection, found in `/proc/net/tcp`). A server in
//! a container (another network namespace), on a Unix socket, run by another user (when we
//! are not root), on a kernel without autogroups, or on another operating system than
//! Linux keeps its priority.

use sqlx::PgConnection;

/// The niceness given to the counting server process: the lowest priority.
pub(super) const NICE: i32 = 19;

/// What the server says of the connection: its pid, its own address and port, the client's.
type Ends = (
    i32,
    Option<String>,
    Option<i32>,
    Option<String>,
    Option<i32>,
);

/// Lowers the priority of the server process behind `conn` if it runs on this machine and
/// we may (same user, or root). Returns its pid when it did; anything else is logged at
/// debug level and is not an error: the counts then run at the server's priority.
pub(super) async fn lower_priority(conn: &mut PgConnection) -> Option<u32> {
    let row: Result<Ends, _> = sqlx::query_as(
        "SELECT pg_catalog.pg_backend_pid(), pg_catalog.host(pg_catalog.inet_server_addr()), \
                pg_catalog.inet_server_port(), pg_catalog.host(pg_catalog.inet_client_addr()), \
                pg_catalog.inet_client_port()",
    )
    .fetch_one(conn)
    .await;
    let (pid, server_addr, server_port, client_addr, client_port) = match row {
        Ok(row) => row,
        Err(e) => {
            tracing::debug!("row counts at the server's priority: {e}");
            return None;
        }
    };
    let endpoints = (|| {
        let server = std::net::SocketAddr::new(server_addr?.parse().ok()?, server_port? as u16);
        let client = std::net::SocketAddr::new(client_addr?.parse().ok()?, client_port? as u16);
        Some((server, client))
    })();
    let Some((server, client)) = endpoints else {
        tracing::debug!("row counts at the server's priority: not a TCP connection");
        return None;
    };
    let pid = u32::try_from(pid).ok()?;
    match renice_if_ours(pid, server, client) {
        Ok(()) => {
            tracing::debug!("row counts at nice {NICE} (server process {pid} on this machine)");
            Some(pid)
        }
        Err(why) => {
            tracing::debug!("row counts at the server's priority: {why}");
            None
        }
    }
}

#[cfg(target_os = "linux")]
fn renice_if_ours(
    pid: u32,
    server: std::net::SocketAddr,
    client: std::net::SocketAddr,
) -> Result<(), String> {
    // With autogroups (the default of most distributions), the server's processes share
    // one group: at nice 19 the counts yield to pg_dump's server process in that group, and
    // the group as a whole keeps its share against other work. Without them a reniced
    // process competes with every process of the machine at 1/70 of the weight: while a
    // build runs, the counts could be starved long after pg_dump is done.
    let autogroups = std::fs::read_to_string("/proc/sys/kernel/sched_autogroup_enabled")
        .is_ok_and(|text| text.trim() == "1");
    if !autogroups {
        return Err("the kernel schedules without autogroups".into());
    }
    let namespace = |of: &str| std::fs::read_link(format!("/proc/{of}/ns/net")).ok();
    match (namespace("self"), namespace(&pid.to_string())) {
        (Some(ours), Some(theirs)) if ours == theirs => {}
        (_, None) => return Err(format!("process {pid} is not one we can see")),
        _ => return Err(format!("process {pid} is in another network namespace")),
    }
    // In one namespace a TCP connection's server end is one socket: whoever holds it is
    // the server process of our connection.
    let socket = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .find_map(|table| socket_inode(&table, server, client))
        .ok_or_else(|| format!("no socket {server} <- {client} on this machine"))?;
    let held = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map_err(|e| format!("cannot look at the files of process {pid}: {e}"))?
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .any(|link| link.as_os_str() == format!("socket:[{socket}]").as_str());
    if !held {
        return Err(format!("process {pid} does not serve this connection"));
    }
    // SAFETY: setpriority reads no memory of ours; a wrong pid is an error return.
    let done = unsafe { libc::setpriority(libc::PRIO_PROCESS, pid as libc::id_t, NICE) };
    if done != 0 {
        return Err(format!(
            "cannot renice process {pid}: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn renice_if_ours(
    _pid: u32,
    _server: std::net::SocketAddr,
    _client: std::net::SocketAddr,
) -> Result<(), String> {
    Err("only done on Linux".into())
}

/// The inode of the established socket whose local end is `local` and remote end `remote`
/// in a `/proc/net/tcp` or `/proc/net/tcp6` table.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn socket_inode(
    table: &str,
    local: std::net::SocketAddr,
    remote: std::net::SocketAddr,
) -> Option<u64> {
    // `sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout
    // inode ...`; an address is the IP's bytes as 32-bit words in the machine's order, in
    // hex, a colon and the port in hex. 01 is ESTABLISHED.
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (l, r, state, inode) = (
            fields.get(1)?,
            fields.get(2)?,
            fields.get(3)?,
            fields.get(9)?,
        );
        (*state == "01" && parse_endpoint(l)? == local && parse_endpoint(r)? == remote)
            .then(|| inode.parse().ok())
            .flatten()
    })
}

fn parse_endpoint(text: &str) -> Option<std::net::SocketAddr> {
    let (ip, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let mut bytes = Vec::with_capacity(16);
    for word in 0..ip.len() / 8 {
        let word = u32::from_str_radix(ip.get(word * 8..word * 8 + 8)?, 16).ok()?;
        bytes.extend_from_slice(&word.to_ne_bytes());
    }
    let ip = match bytes.len() {
        4 => std::net::IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?),
        // An IPv4 client of a server listening on IPv6 shows as ::ffff:a.b.c.d here, and
        // as a.b.c.d to the server.
        16 => std::net::IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?).to_canonical(),
        _ => return None,
    };
    Some(std::net::SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_of_a_connection_is_found_by_both_ends() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:D8A8 00000000:0000 0A 00000000:00000000 00:00000000 00000000   106        0 4242 1 0 100 0 0 10 0
   1: 0100007F:D8A8 0100007F:9C40 01 00000000:00000000 00:00000000 00000000   106        0 5151 1 0 20 4 30 10 -1
   2: 0100007F:9C40 0100007F:D8A8 01 00000000:00000000 00:00000000 00000000     0        0 6161 1 0 20 4 30 10 -1
";
        let server: std::net::SocketAddr = "127.0.0.1:55464".parse().unwrap();
        let client: std::net::SocketAddr = "127.0.0.1:40000".parse().unwrap();
        if cfg!(target_endian = "little") {
            assert_eq!(socket_inode(table, server, client), Some(5151));
            assert_eq!(socket_inode(table, client, server), Some(6161));
            let other: std::net::SocketAddr = "127.0.0.1:40001".parse().unwrap();
            assert_eq!(socket_inode(table, server, other), None);
        }
    }

    #[test]
    fn an_ipv4_client_of_an_ipv6_socket_is_its_ipv4_address() {
        if cfg!(target_endian = "little") {
            assert_eq!(
                parse_endpoint("0000000000000000FFFF00000100007F:1538"),
                Some("127.0.0.1:5432".parse().unwrap())
            );
            assert_eq!(
                parse_endpoint("00000000000000000000000001000000:1538"),
                Some("[::1]:5432".parse().unwrap())
            );
        }
    }
}
