//! Abuse limits at the door: sessions at once (in total and per client IP address), and the
//! rate of new connections and of messages per client IP address.

use std::{
    collections::HashMap,
    net::IpAddr,
    num::NonZeroU32,
    sync::{Arc, Mutex, PoisonError},
};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::metrics::ReplyReason;
use crate::config::SmtpConfig;

pub struct Admission {
    max_total: usize,
    max_per_ip: usize,
    open: Mutex<OpenSessions>,
    connection_rate: DefaultKeyedRateLimiter<IpAddr>,
    message_rate: DefaultKeyedRateLimiter<IpAddr>,
}

#[derive(Default)]
struct OpenSessions {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// Why a connection is turned away (the text of its `421 4.7.0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    TooManySessions,
    TooManySessionsFromIp,
    TooManyConnectionsFromIp,
}

impl Refusal {
    pub fn reply(self) -> &'static [u8] {
        match self {
            Self::TooManySessions => b"421 4.7.0 Too many connections; try again later\r\n",
            Self::TooManySessionsFromIp => {
                b"421 4.7.0 Too many connections from your address; try again later\r\n"
            }
            Self::TooManyConnectionsFromIp => {
                b"421 4.7.0 Connecting too often from your address; try again later\r\n"
            }
        }
    }

    pub fn reason(self) -> ReplyReason {
        match self {
            Self::TooManySessions | Self::TooManySessionsFromIp => ReplyReason::ConnectionLimit,
            Self::TooManyConnectionsFromIp => ReplyReason::RateLimit,
        }
    }
}

fn per_minute(limit: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(limit).unwrap_or(NonZeroU32::MIN))
}

impl Admission {
    pub fn new(config: &SmtpConfig) -> Self {
        Self {
            max_total: config.smtp_max_connections as usize,
            max_per_ip: config.smtp_max_connections_per_ip as usize,
            open: Mutex::default(),
            connection_rate: RateLimiter::keyed(per_minute(
                config.smtp_connections_per_minute_per_ip,
            )),
            message_rate: RateLimiter::keyed(per_minute(config.smtp_messages_per_minute_per_ip)),
        }
    }

    /// Admits a connection from `ip`; the slot it returns frees itself when dropped.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Refusal> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.total >= self.max_total {
            return Err(Refusal::TooManySessions);
        }
        if open.per_ip.get(&ip).copied().unwrap_or(0) >= self.max_per_ip {
            return Err(Refusal::TooManySessionsFromIp);
        }
        if self.connection_rate.check_key(&ip).is_err() {
            return Err(Refusal::TooManyConnectionsFromIp);
        }
        open.total += 1;
        *open.per_ip.entry(ip).or_default() += 1;
        Ok(Slot {
            admission: self.clone(),
            ip,
        })
    }

    /// Whether `ip` may start another message now.
    pub fn allow_message(&self, ip: IpAddr) -> bool {
        self.message_rate.check_key(&ip).is_ok()
    }

    /// Forgets rate state of addresses not seen for a while (bounded memory).
    pub fn forget_idle(&self) {
        self.connection_rate.retain_recent();
        self.message_rate.retain_recent();
    }
}

/// An admitted session's place.
pub struct Slot {
    admission: Arc<Admission>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self
            .admission
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        open.total -= 1;
        if let Some(count) = open.per_ip.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.per_ip.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        smtp: SmtpConfig,
    }

    fn admission(args: &[&str]) -> Arc<Admission> {
        let flags = Flags::try_parse_from([&["test"], args].concat()).unwrap();
        Arc::new(Admission::new(&flags.smtp))
    }

    #[test]
    fn sessions_are_limited_in_total_and_per_address() {
        let admission = admission(&[
            "--smtp-max-connections",
            "3",
            "--smtp-max-connections-per-ip",
            "2",
        ]);
        let (a, b) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let first = admission.admit(a).unwrap();
        let _second = admission.admit(a).unwrap();
        assert_eq!(
            admission.admit(a).err(),
            Some(Refusal::TooManySessionsFromIp)
        );
        let _third = admission.admit(b).unwrap();
        assert_eq!(admission.admit(b).err(), Some(Refusal::TooManySessions));
        drop(first);
        assert!(
            admission.admit(a).is_ok(),
            "a closed session frees its place"
        );
    }

    #[test]
    fn connection_and_message_rates_are_per_address() {
        let admission = admission(&[
            "--smtp-connections-per-minute-per-ip",
            "2",
            "--smtp-messages-per-minute-per-ip",
            "1",
        ]);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        drop(admission.admit(a).unwrap());
        drop(admission.admit(a).unwrap());
        assert_eq!(
            admission.admit(a).err(),
            Some(Refusal::TooManyConnectionsFromIp)
        );
        assert!(admission.admit(b).is_ok());
        assert!(admission.allow_message(a));
        assert!(!admission.allow_message(a));
        assert!(admission.allow_message(b));
    }
}
