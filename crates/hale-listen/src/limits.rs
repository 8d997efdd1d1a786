//! What one process lets the network hold: the connection caps (all clients, one client), the
//! timeouts, the share of the file-descriptor limit, and the admission that enforces the caps.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The caps and timeouts of the accept loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Open connections at most, from every client together.
    pub max_connections: usize,
    /// Open connections at most from one client (an IPv4 address, or an IPv6 /64).
    pub max_per_client: usize,
    /// From when a connection starts waiting for a request until its headers are complete (a
    /// TLS handshake gets the same time). Counts for the first request and every later one.
    pub header_read_timeout: Duration,
    /// How long a kept-alive connection waits for its next request (bounded by
    /// `header_read_timeout` too).
    pub idle_timeout: Duration,
    /// Connections held back beyond `max_connections` for the health probes (see
    /// [`Server::with_probe_paths`](crate::Server::with_probe_paths)): when clients together
    /// take every slot, a load balancer's probe still gets an answer. Such a connection answers
    /// one request, and only on a probe path.
    pub probe_reserve: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            max_per_client: 64,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(5),
            probe_reserve: 16,
        }
    }
}

/// The reserve left for everything else the process opens (database connections, files, the
/// certificates on reload): connections get three quarters of the descriptor limit.
pub fn connection_share(file_limit: u64) -> usize {
    usize::try_from(file_limit / 4 * 3).unwrap_or(usize::MAX)
}

impl ConnectionLimits {
    /// These limits with `max_connections` at most the connections' share of the process's
    /// descriptor limit (and the per-client cap at most that), so idle sockets can never use up
    /// the descriptors the process needs to answer.
    pub fn within_file_limit(self, file_limit: u64) -> Self {
        let max_connections = self
            .max_connections
            .min(connection_share(file_limit))
            .max(1);
        Self {
            max_connections,
            max_per_client: self.max_per_client.min(max_connections),
            ..self
        }
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (capped at 2^20, which Linux takes) and
/// returns the soft limit in force afterwards, or `None` when it cannot be read.
pub fn raise_file_limit() -> Option<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    let wanted = hard.min(1 << 20);
    if wanted > soft && setrlimit(Resource::RLIMIT_NOFILE, wanted, hard).is_ok() {
        return Some(wanted);
    }
    Some(soft)
}

/// Whom a per-client cap counts: an IPv4 address, or the /64 network of an IPv6 address (one
/// host is routinely given a whole /64, so counting single IPv6 addresses would cap nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientKey(IpAddr);

impl ClientKey {
    pub fn of(address: IpAddr) -> Self {
        match address {
            IpAddr::V4(v4) => Self(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(IpAddr::V4(v4)),
                None => {
                    let segments = v6.segments();
                    Self(IpAddr::V6(Ipv6Addr::new(
                        segments[0],
                        segments[1],
                        segments[2],
                        segments[3],
                        0,
                        0,
                        0,
                        0,
                    )))
                }
            },
        }
    }
}

/// Running totals of the accept loop, for logs and tests.
#[derive(Debug, Default)]
pub struct Counters {
    accepted: AtomicU64,
    refused_total_cap: AtomicU64,
    refused_client_cap: AtomicU64,
    accept_errors: AtomicU64,
    open: AtomicU64,
    probes: AtomicU64,
}

impl Counters {
    /// Connections admitted since the start.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
    /// Connections closed at once because every slot was taken.
    pub fn refused_total_cap(&self) -> u64 {
        self.refused_total_cap.load(Ordering::Relaxed)
    }
    /// Connections closed at once because their client held its share.
    pub fn refused_client_cap(&self) -> u64 {
        self.refused_client_cap.load(Ordering::Relaxed)
    }
    /// Failed `accept` calls (out of descriptors, among others) the loop backed off from.
    pub fn accept_errors(&self) -> u64 {
        self.accept_errors.load(Ordering::Relaxed)
    }
    /// Connections admitted to the probe reserve since the start.
    pub fn probes(&self) -> u64 {
        self.probes.load(Ordering::Relaxed)
    }
    /// Connections open now.
    pub fn open(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }
    /// Every connection the loop has taken off the socket and decided about.
    pub fn decided(&self) -> u64 {
        self.accepted() + self.probes() + self.refused_total_cap() + self.refused_client_cap()
    }
    pub(crate) fn accept_failed(&self) {
        self.accept_errors.fetch_add(1, Ordering::Relaxed);
    }
}

/// Why a connection was not admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    TotalCap,
    ClientCap,
}

/// Counts open connections, in total and per client, and admits a new one only below both caps;
/// past the total cap, into the probe reserve while it has room.
#[derive(Debug)]
pub struct Admission {
    max_connections: usize,
    max_per_client: usize,
    probe_reserve: usize,
    state: Mutex<Open>,
    counters: Arc<Counters>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    probes: usize,
    by_client: HashMap<ClientKey, usize>,
}

impl Admission {
    /// Admission under `limits`; `probes` says whether anything answers on the probe reserve
    /// (without probe paths it stays closed).
    pub fn new(limits: &ConnectionLimits, probes: bool, counters: Arc<Counters>) -> Arc<Self> {
        Arc::new(Self {
            max_connections: limits.max_connections,
            max_per_client: limits.max_per_client,
            probe_reserve: if probes { limits.probe_reserve } else { 0 },
            state: Mutex::new(Open::default()),
            counters,
        })
    }

    /// A permit for one more connection from `address`, or why not. The permit gives its slot
    /// back when dropped.
    pub fn admit(self: &Arc<Self>, address: IpAddr) -> Result<Permit, Refusal> {
        let client = ClientKey::of(address);
        // Nothing panics while the lock is held, so a poisoned lock still holds true counts.
        let mut open = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if open.total >= self.max_connections {
            if open.probes < self.probe_reserve {
                open.probes += 1;
                self.counters.probes.fetch_add(1, Ordering::Relaxed);
                self.counters.open.fetch_add(1, Ordering::Relaxed);
                return Ok(Permit {
                    admission: Arc::clone(self),
                    slot: Slot::Probe,
                });
            }
            self.counters
                .refused_total_cap
                .fetch_add(1, Ordering::Relaxed);
            return Err(Refusal::TotalCap);
        }
        let held = open.by_client.entry(client).or_insert(0);
        if *held >= self.max_per_client {
            self.counters
                .refused_client_cap
                .fetch_add(1, Ordering::Relaxed);
            return Err(Refusal::ClientCap);
        }
        *held += 1;
        open.total += 1;
        self.counters.accepted.fetch_add(1, Ordering::Relaxed);
        self.counters.open.fetch_add(1, Ordering::Relaxed);
        Ok(Permit {
            admission: Arc::clone(self),
            slot: Slot::Client(client),
        })
    }

    fn release(&self, slot: Slot) {
        let mut open = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match slot {
            Slot::Probe => open.probes = open.probes.saturating_sub(1),
            Slot::Client(client) => {
                open.total = open.total.saturating_sub(1);
                if let Some(held) = open.by_client.get_mut(&client) {
                    *held = held.saturating_sub(1);
                    if *held == 0 {
                        open.by_client.remove(&client);
                    }
                }
            }
        }
        self.counters.open.fetch_sub(1, Ordering::Relaxed);
    }

    /// Clients holding at least one connection (the map never keeps a client at zero).
    pub fn clients(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .by_client
            .len()
    }
}

/// Which slot a permit holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    /// One of the `max_connections`, counted for its client.
    Client(ClientKey),
    /// One of the probe reserve.
    Probe,
}

/// One admitted connection's slot.
#[derive(Debug)]
pub struct Permit {
    admission: Arc<Admission>,
    slot: Slot,
}

impl Permit {
    /// Whether the connection holds a slot of the probe reserve (one request, probe paths only).
    pub fn is_probe(&self) -> bool {
        self.slot == Slot::Probe
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.admission.release(self.slot);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn limits(max_connections: usize, max_per_client: usize) -> ConnectionLimits {
        ConnectionLimits {
            max_connections,
            max_per_client,
            ..ConnectionLimits::default()
        }
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ClientKey::of(a), ClientKey::of(b));
        assert_ne!(ClientKey::of(a), ClientKey::of(other));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(ClientKey::of(mapped), ClientKey::of(v4));
        let v4_other: IpAddr = "192.0.2.8".parse().unwrap();
        assert_ne!(ClientKey::of(v4), ClientKey::of(v4_other));
    }

    #[test]
    fn the_file_limit_caps_connections_and_the_client_cap() {
        let capped = limits(10_000, 64).within_file_limit(1024);
        assert_eq!(capped.max_connections, 768);
        assert_eq!(capped.max_per_client, 64);
        let tiny = limits(10_000, 64).within_file_limit(40);
        assert_eq!(tiny.max_connections, 30);
        assert_eq!(tiny.max_per_client, 30);
        assert_eq!(
            limits(100, 64).within_file_limit(1 << 20).max_connections,
            100
        );
    }

    #[test]
    fn permits_give_their_slot_back() {
        let counters = Arc::new(Counters::default());
        let admission = Admission::new(&limits(2, 1), false, Arc::clone(&counters));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let c: IpAddr = "192.0.2.3".parse().unwrap();
        let first = admission.admit(a).unwrap();
        assert_eq!(admission.admit(a).unwrap_err(), Refusal::ClientCap);
        let _second = admission.admit(b).unwrap();
        assert_eq!(admission.admit(c).unwrap_err(), Refusal::TotalCap);
        drop(first);
        assert_eq!(admission.clients(), 1);
        let _third = admission.admit(c).unwrap();
        assert_eq!(counters.accepted(), 3);
        assert_eq!(counters.refused_client_cap(), 1);
        assert_eq!(counters.refused_total_cap(), 1);
        assert_eq!(counters.open(), 2);
    }

    proptest! {
        /// Against a model: any sequence of arrivals and departures never holds more than the
        /// caps, admits exactly when the model has room, and forgets clients that left.
        #[test]
        fn admission_matches_a_model(
            max_connections in 1usize..8,
            max_per_client in 1usize..4,
            reserve in 0usize..3,
            probes in any::<bool>(),
            steps in proptest::collection::vec((any::<bool>(), 0u8..5), 0..200),
        ) {
            let counters = Arc::new(Counters::default());
            let limits = ConnectionLimits {
                probe_reserve: reserve,
                ..limits(max_connections, max_per_client)
            };
            let admission = Admission::new(&limits, probes, counters);
            let reserve = if probes { reserve } else { 0 };
            // (client, whether it holds a probe slot, permit)
            let mut held: Vec<(u8, bool, Permit)> = Vec::new();
            for (arrive, client) in steps {
                let address = IpAddr::from([10, 0, 0, client]);
                if arrive {
                    let total = held.iter().filter(|(_, probe, _)| !probe).count();
                    let in_reserve = held.len() - total;
                    let mine = held.iter().filter(|(c, probe, _)| *c == client && !probe).count();
                    let expected = if total >= max_connections {
                        if in_reserve < reserve { Ok(true) } else { Err(Refusal::TotalCap) }
                    } else if mine >= max_per_client {
                        Err(Refusal::ClientCap)
                    } else {
                        Ok(false)
                    };
                    match admission.admit(address) {
                        Ok(permit) => {
                            prop_assert_eq!(expected, Ok(permit.is_probe()));
                            held.push((client, permit.is_probe(), permit));
                        }
                        Err(refusal) => prop_assert_eq!(expected, Err(refusal)),
                    }
                } else if let Some(index) = held.iter().position(|(c, _, _)| *c == client) {
                    held.remove(index);
                }
                let mut clients: Vec<u8> =
                    held.iter().filter(|(_, probe, _)| !probe).map(|(c, _, _)| *c).collect();
                clients.sort_unstable();
                clients.dedup();
                prop_assert_eq!(admission.clients(), clients.len());
            }
        }
    }
}
