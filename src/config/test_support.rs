//! Configuration texts for unit tests, written in one place: a test builds
//! the environments and services it needs from these and adds only the
//! tables it is about. Loader tests check errors by line, so the layout of
//! each piece is fixed: see each function for what it writes.

/// Environment `name` with one local service, `checkout`: its proxy on
/// 127.0.0.1:18080, its admin API on 19080, stable v1 on 18181, v2 on
/// 18281. A test appends the service's other tables, or more services and
/// environments.
pub(crate) fn one_local_service(env: &str) -> String {
    environment(env) + &service("checkout", &local_backend(18080, 19080, &[18181], &[18281]))
}

/// The `[[environments]]` table of environment `name` and a blank line
/// (three lines); its services follow.
pub(crate) fn environment(name: &str) -> String {
    format!("[[environments]]\nname = \"{name}\"\n\n")
}

/// The `[[environments.services]]` table of service `name`, then its
/// `[environments.services.backend]` table with the keys `backend` (one a
/// line, each ending with a newline).
pub(crate) fn service(name: &str, backend: &str) -> String {
    format!(
        r#"[[environments.services]]
name = "{name}"
[environments.services.backend]
{backend}"#
    )
}

/// The keys of a local backend on 127.0.0.1: the proxy on port `listen`,
/// the admin API on `admin`, and the stable version v1 and the new v2 on
/// the upstreams at the ports `v1` and `v2`.
pub(crate) fn local_backend(listen: u16, admin: u16, v1: &[u16], v2: &[u16]) -> String {
    let upstreams = |ports: &[u16]| {
        let quoted: Vec<String> = ports.iter().map(|p| format!("\"127.0.0.1:{p}\"")).collect();
        quoted.join(", ")
    };
    format!(
        r#"listen = "127.0.0.1:{listen}"
admin = "127.0.0.1:{admin}"
stable = "v1"
versions = {{ v1 = [{}], v2 = [{}] }}
"#,
        upstreams(v1),
        upstreams(v2)
    )
}
