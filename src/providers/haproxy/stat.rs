//! `show stat`: CSV, a `# ` header naming the columns, then a row a
//! frontend, backend and server. Read by column name. The counters are
//! cumulative from HAProxy's start (or its last reload); the times are
//! averages over the server's last 1 024 requests, not percentiles.

use serde::Serialize;

use super::Header;

/// What one server served.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerStat {
    pub backend: String,
    pub server: String,
    /// `UP`, `DOWN`, `MAINT`, `DRAIN`, `no check`, or a transition
    /// (`UP 1/3`).
    pub status: String,
    pub weight: u16,
    /// Sessions (requests, for HTTP) it took, in all.
    pub sessions: u64,
    /// Requests in flight now.
    pub current: u64,
    /// Responses by class: 1xx to 5xx and other.
    pub responses: [u64; 6],
    /// Connections to it that failed (`econ`) and responses that failed
    /// (`eresp`: aborted, or broken).
    pub connect_errors: u64,
    pub response_errors: u64,
    /// Average response time, ms, over its last 1 024 requests (`rtime`).
    pub avg_response_ms: Option<f64>,
}

const RESPONSE_COLUMNS: [&str; 6] = [
    "hrsp_1xx",
    "hrsp_2xx",
    "hrsp_3xx",
    "hrsp_4xx",
    "hrsp_5xx",
    "hrsp_other",
];

/// Every server row of an answer (frontends and backends left out).
pub fn parse(answer: &str) -> Result<Vec<ServerStat>, String> {
    let mut lines = answer.lines().filter(|l| !l.trim().is_empty());
    let header = Header(
        lines
            .next()
            .and_then(|h| h.strip_prefix("# "))
            .ok_or("no `# ` header line")?
            .split(',')
            .collect(),
    );
    let column = |name: &str| header.column(name);
    let at = Columns {
        backend: column("pxname")?,
        server: column("svname")?,
        status: column("status")?,
        weight: column("weight")?,
        sessions: column("stot")?,
        current: column("scur")?,
        responses: RESPONSE_COLUMNS
            .iter()
            .map(|c| column(c))
            .collect::<Result<Vec<_>, _>>()?,
        connect_errors: column("econ")?,
        response_errors: column("eresp")?,
        rtime: column("rtime")?,
    };
    lines
        .map(|line| line.split(',').collect::<Vec<_>>())
        .filter(|fields| !matches!(fields.get(at.server).copied(), Some("FRONTEND" | "BACKEND")))
        .map(|fields| at.row(&fields))
        .collect()
}

struct Columns {
    backend: usize,
    server: usize,
    status: usize,
    weight: usize,
    sessions: usize,
    current: usize,
    responses: Vec<usize>,
    connect_errors: usize,
    response_errors: usize,
    rtime: usize,
}

impl Columns {
    fn row(&self, fields: &[&str]) -> Result<ServerStat, String> {
        let field = |i: usize| {
            fields
                .get(i)
                .copied()
                .ok_or_else(|| format!("a row with {} fields", fields.len()))
        };
        // An empty counter is one HAProxy does not keep for this row: 0.
        let count = |i: usize| -> Result<u64, String> {
            match field(i)? {
                "" => Ok(0),
                text => text.parse().map_err(|_| format!("`{text}` is not a count")),
            }
        };
        let mut responses = [0; 6];
        for (slot, column) in responses.iter_mut().zip(&self.responses) {
            *slot = count(*column)?;
        }
        Ok(ServerStat {
            backend: field(self.backend)?.to_string(),
            server: field(self.server)?.to_string(),
            status: field(self.status)?.to_string(),
            weight: count(self.weight)? as u16,
            sessions: count(self.sessions)?,
            current: count(self.current)?,
            responses,
            connect_errors: count(self.connect_errors)?,
            response_errors: count(self.response_errors)?,
            avg_response_ms: field(self.rtime)?.parse().ok(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSWER: &str = "# pxname,svname,scur,stot,econ,eresp,status,weight,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,rtime,\n\
        fe,FRONTEND,0,50,,,OPEN,,0,48,0,0,2,0,,\n\
        web,v1-a,1,40,0,0,UP,100,0,39,0,0,1,0,12,\n\
        web,v2-a,0,10,2,1,DOWN,0,0,9,0,0,1,0,,\n\
        web,BACKEND,1,50,2,1,UP,100,0,48,0,0,2,0,11,\n";

    #[test]
    fn server_rows_are_read_by_column_name() {
        let rows = parse(ANSWER).unwrap();
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!(rows[0].server, "v1-a");
        assert_eq!(rows[0].sessions, 40);
        assert_eq!(rows[0].responses[4], 1);
        assert_eq!(rows[0].avg_response_ms, Some(12.0));
        assert_eq!(rows[1].status, "DOWN");
        assert_eq!((rows[1].connect_errors, rows[1].response_errors), (2, 1));
        assert_eq!(rows[1].avg_response_ms, None);
    }

    #[test]
    fn an_answer_without_its_header_says_so() {
        assert!(parse("Unknown command.\n").unwrap_err().contains("header"));
        assert!(parse("# pxname,svname\n").unwrap_err().contains("`status`"));
    }
}
