//! `show servers state <backend>`: a version line, a `#` header naming the
//! columns, then a row a server, fields split by spaces. Read by column
//! name, so a HAProxy that adds columns is still read right.

use serde::Serialize;

use super::Header;

/// One server as HAProxy holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerState {
    pub backend: String,
    pub server: String,
    /// The weight in force (`srv_uweight`): what `set server … weight` set.
    pub weight: u16,
    /// The weight the configuration file gives it (`srv_iweight`).
    pub file_weight: u16,
    /// Its health as HAProxy judges it: running (up) or not.
    pub up: bool,
    pub admin: Admin,
    /// `srv_addr:srv_port`, where HAProxy sends its requests (for smoke
    /// tests of a blue-green preview); `None` where the answer has no such
    /// columns.
    pub address: Option<String>,
}

/// A server's administrative state: what `set server … state` sets, and
/// what `srv_admin_state` (a bit field) says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Admin {
    /// Takes new requests.
    Ready,
    /// Takes no new requests; those in flight and persistent sessions finish.
    Drain,
    /// Takes nothing; health checks stop.
    Maint,
}

impl Admin {
    pub fn word(self) -> &'static str {
        match self {
            Admin::Ready => "ready",
            Admin::Drain => "drain",
            Admin::Maint => "maint",
        }
    }
}

/// `srv_op_state` of a server that is up (SRV_ST_RUNNING).
const RUNNING: u32 = 2;
/// Maintenance bits of `srv_admin_state`: forced, inherited, from the
/// configuration, resolution.
const MAINT_BITS: u32 = 0x01 | 0x02 | 0x04 | 0x20;
/// Drain bits: forced, inherited.
const DRAIN_BITS: u32 = 0x08 | 0x10;

/// The servers of an answer; why not, in words.
pub fn parse(answer: &str) -> Result<Vec<ServerState>, String> {
    let mut lines = answer.lines().filter(|l| !l.trim().is_empty());
    match lines.next().map(str::trim) {
        Some("1") => {}
        Some(other) => return Err(format!("expected the format version 1, got `{other}`")),
        None => return Err("an empty answer".into()),
    }
    let header = Header(
        lines
            .next()
            .and_then(|h| h.strip_prefix('#'))
            .ok_or("no `#` header line")?
            .split_whitespace()
            .collect(),
    );
    let column = |name: &str| header.column(name);
    let at = Columns {
        backend: column("be_name")?,
        server: column("srv_name")?,
        op_state: column("srv_op_state")?,
        admin_state: column("srv_admin_state")?,
        weight: column("srv_uweight")?,
        file_weight: column("srv_iweight")?,
        addr: column("srv_addr").ok(),
        port: column("srv_port").ok(),
    };
    lines.map(|line| at.row(line)).collect()
}

struct Columns {
    backend: usize,
    server: usize,
    op_state: usize,
    admin_state: usize,
    weight: usize,
    file_weight: usize,
    addr: Option<usize>,
    port: Option<usize>,
}

impl Columns {
    fn row(&self, line: &str) -> Result<ServerState, String> {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let field = |i: usize| {
            fields
                .get(i)
                .copied()
                .ok_or_else(|| format!("a row with {} fields: `{line}`", fields.len()))
        };
        let number = |i: usize| -> Result<u32, String> {
            let text = field(i)?;
            text.parse()
                .map_err(|_| format!("`{text}` is not a number in `{line}`"))
        };
        let admin = number(self.admin_state)?;
        Ok(ServerState {
            backend: field(self.backend)?.to_string(),
            server: field(self.server)?.to_string(),
            weight: number(self.weight)? as u16,
            file_weight: number(self.file_weight)? as u16,
            up: number(self.op_state)? == RUNNING,
            address: match (self.addr, self.port) {
                (Some(addr), Some(port)) => Some(format!("{}:{}", field(addr)?, field(port)?)),
                _ => None,
            },
            admin: if admin & MAINT_BITS != 0 {
                Admin::Maint
            } else if admin & DRAIN_BITS != 0 {
                Admin::Drain
            } else {
                Admin::Ready
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// HAProxy 2.6's answer, trimmed to two servers.
    const ANSWER: &str = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port\n\
        3 web 1 v1-a 127.0.0.1 2 0 200 100 12 6 3 4 6 0 0 0 - 18181\n\
        3 web 2 v2-a 127.0.0.1 0 8 0 100 3 7 2 0 6 0 0 0 - 18182\n\n";

    #[test]
    fn rows_are_read_by_column_name() {
        let servers = parse(ANSWER).unwrap();
        assert_eq!(
            servers[0],
            ServerState {
                backend: "web".into(),
                server: "v1-a".into(),
                weight: 200,
                file_weight: 100,
                up: true,
                admin: Admin::Ready,
                address: Some("127.0.0.1:18181".into()),
            }
        );
        assert!(!servers[1].up);
        assert_eq!(servers[1].admin, Admin::Drain);
        assert_eq!(servers[1].weight, 0);
    }

    #[test]
    fn what_is_not_the_format_says_why() {
        assert!(
            parse("Can't find backend.\n")
                .unwrap_err()
                .contains("version 1")
        );
        assert!(parse("1\n3 web\n").unwrap_err().contains("header"));
        assert!(
            parse("1\n# be_name srv_name\n")
                .unwrap_err()
                .contains("srv_op_state")
        );
    }
}
