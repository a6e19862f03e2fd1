//! Who is running this process, for the events and the history: a process
//! concern, so it lives with the command line rather than in the engine,
//! which only carries the [`Actor`] it is given.

use crate::engine::Actor;

/// The operator running this process: `$USER` (or `$LOGNAME`) as the
/// session names it, else the process's account as the system knows it
/// (cron, CI and `env -i` set neither variable), and over SSH the address
/// the operator connected from (`$SSH_CLIENT`).
pub fn current() -> Actor {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .or_else(|| whoami::username().ok())
        .unwrap_or_else(|| "unknown".to_string());
    Actor::Operator {
        user,
        origin: ssh_origin(std::env::var("SSH_CLIENT").ok().as_deref()),
    }
}

/// The client address of `$SSH_CLIENT` ("203.0.113.7 52314 22").
fn ssh_origin(ssh_client: Option<&str>) -> Option<String> {
    ssh_client?.split_whitespace().next().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ssh_origin_is_the_client_address() {
        assert_eq!(
            ssh_origin(Some("203.0.113.7 52314 22")).as_deref(),
            Some("203.0.113.7")
        );
        assert_eq!(ssh_origin(Some("")), None);
        assert_eq!(ssh_origin(None), None);
    }

    #[test]
    fn someone_is_always_named() {
        let Actor::Operator { user, .. } = current() else {
            panic!("the current user is an operator");
        };
        assert!(!user.is_empty());
    }
}
