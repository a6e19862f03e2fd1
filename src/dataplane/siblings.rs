//! The data planes running in this process, by admin address, so one
//! admin call can answer for several of them
//! (`GET /api/v1/observed/siblings?admin=A,B,…`).
//!
//! A host driving hundreds of releases reads every data plane once per
//! analysis interval; one HTTP exchange per plane was most of the CPU of
//! both the host and the planes process. A plane answers only for
//! siblings whose admin listens on the same IP address as its own: a
//! plane whose admin API is exposed on a network interface never reveals
//! the counters of one kept on loopback.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock, Mutex, Weak};

use super::state::Shared;
use crate::observed::Observed;

static PLANES: LazyLock<Mutex<HashMap<SocketAddr, Weak<Shared>>>> = LazyLock::new(Default::default);

/// A plane's entry in the registry; dropping it removes the entry.
pub struct Registration {
    admin: SocketAddr,
    shared: Weak<Shared>,
}

/// Lists the plane whose admin API listens on `admin`.
pub fn register(admin: SocketAddr, shared: &Arc<Shared>) -> Registration {
    let shared = Arc::downgrade(shared);
    crate::sync::lock(&PLANES).insert(admin, shared.clone());
    Registration { admin, shared }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut planes = crate::sync::lock(&PLANES);
        // Only its own entry: a plane started since on the same address
        // keeps the one it registered.
        if planes
            .get(&self.admin)
            .is_some_and(|s| Weak::ptr_eq(s, &self.shared))
        {
            planes.remove(&self.admin);
        }
    }
}

/// What each of `wanted` observes, for those that run in this process
/// and listen on the same IP address as `asked` (the plane answering).
/// The others are left out: the caller reads them itself.
pub fn observed(asked: SocketAddr, wanted: &[SocketAddr]) -> BTreeMap<SocketAddr, Observed> {
    let planes: Vec<(SocketAddr, Arc<Shared>)> = {
        let registry = crate::sync::lock(&PLANES);
        wanted
            .iter()
            .filter(|admin| admin.ip() == asked.ip())
            .filter_map(|admin| Some((*admin, registry.get(admin)?.upgrade()?)))
            .collect()
    };
    // Outside the lock: a look at a routing table copies its counters.
    planes
        .into_iter()
        .map(|(admin, shared)| (admin, shared.observed()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap as Map;

    fn plane(name: &str) -> Arc<Shared> {
        let versions = Map::from([("v1".to_string(), vec!["127.0.0.1:9".parse().unwrap()])]);
        Arc::new(Shared::new(name.into(), "v1", versions, Default::default()))
    }

    #[test]
    fn a_plane_answers_for_siblings_on_its_own_address_only_while_they_run() {
        let (a, b, c, d) = (
            "127.0.0.1:41001".parse().unwrap(),
            "127.0.0.1:41002".parse().unwrap(),
            "127.0.0.2:41003".parse().unwrap(),
            "127.0.0.1:41004".parse().unwrap(),
        );
        let (pa, pb, pc) = (plane("a"), plane("b"), plane("c"));
        let (_ra, rb, _rc) = (register(a, &pa), register(b, &pb), register(c, &pc));
        let answer = observed(a, &[a, b, c, d]);
        // c listens on another address; nothing listens on d.
        assert_eq!(answer.keys().copied().collect::<Vec<_>>(), vec![a, b]);
        assert_eq!(answer[&b], pb.observed());
        drop(rb);
        assert_eq!(observed(a, &[b]).len(), 0, "b stopped");
        drop(pc);
        assert_eq!(observed(c, &[c]).len(), 0, "c is gone");
    }
}
