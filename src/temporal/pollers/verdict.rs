//! Judging one queue's pollers: which of them are this worker's (identity, deployment, polled
//! since a moment), how long that proof holds, and, when none is, what was seen instead.

use std::time::{Duration, SystemTime};

use temporalio_common::protos::temporal::api::taskqueue::v1::PollerInfo;

use crate::config::Deployment;
use crate::temporal::identity::Identity;
use crate::temporal::pollers::POLLER_MAX_AGE;

/// How many other identities a finding names at most.
const SHOWN_IDENTITIES: usize = 5;

/// What one queue's pollers say.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueVerdict {
    /// Live pollers that count for this worker.
    pub counted: u64,
    /// How long until the newest of them ages out.
    pub fresh_for: Option<Duration>,
    /// When none counts: what was seen instead.
    pub finding: Option<String>,
}

impl QueueVerdict {
    fn not_counted(finding: String) -> QueueVerdict {
        QueueVerdict {
            counted: 0,
            fresh_for: None,
            finding: Some(finding),
        }
    }
}

/// One poller of a queue as the server lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Poller {
    pub identity: String,
    pub last_access: Option<SystemTime>,
    /// `(deployment name, build ID)` when it polls under worker versioning.
    pub deployment: Option<(String, String)>,
}

impl Poller {
    pub fn from_info(info: PollerInfo) -> Poller {
        let last_access = info.last_access_time.and_then(|t| {
            let secs = u64::try_from(t.seconds).ok()?;
            Some(SystemTime::UNIX_EPOCH + Duration::new(secs, t.nanos.max(0) as u32))
        });
        let deployment = info
            .deployment_options
            .filter(|d| !d.deployment_name.is_empty() || !d.build_id.is_empty())
            .map(|d| (d.deployment_name, d.build_id));
        Poller {
            identity: info.identity,
            last_access,
            deployment,
        }
    }

    pub fn live(&self, now: SystemTime) -> bool {
        self.last_access
            .is_some_and(|t| now.duration_since(t).unwrap_or_default() < POLLER_MAX_AGE)
    }
}

/// What this worker's pollers look like, and where they are looked for (as the findings name
/// it).
#[derive(Debug, Clone)]
pub struct Expected {
    pub identity: Identity,
    pub deployment: Option<Deployment>,
    pub namespace: String,
    /// The server.
    pub address: String,
}

impl Expected {
    /// The deployment and build the pollers must carry, as the log shows them.
    pub fn deployment(&self) -> Option<String> {
        self.deployment
            .as_ref()
            .map(|d| format!("deployment '{}' build '{}'", d.name, d.build_id))
    }

    /// How many live pollers of one queue count for this worker (those that polled after
    /// `polled_after`, when given), how long the newest of them stays live, and, when none
    /// counts, what was seen there instead.
    pub fn judge(
        &self,
        queue: &str,
        live: &[Poller],
        polled_after: Option<SystemTime>,
        now: SystemTime,
    ) -> QueueVerdict {
        let mine: Vec<&Poller> = live
            .iter()
            .filter(|p| self.identity.matches(&p.identity))
            .collect();
        let versioned: Vec<&&Poller> = mine
            .iter()
            .filter(|p| match &self.deployment {
                Some(d) => p.deployment.as_ref() == Some(&(d.name.clone(), d.build_id.clone())),
                None => true,
            })
            .collect();
        let counted: Vec<SystemTime> = versioned
            .iter()
            .filter_map(|p| p.last_access)
            .filter(|&at| polled_after.is_none_or(|after| at >= after))
            .collect();
        if let Some(&newest) = counted.iter().max() {
            let age = now.duration_since(newest).unwrap_or_default();
            return QueueVerdict {
                counted: counted.len() as u64,
                fresh_for: Some(POLLER_MAX_AGE.saturating_sub(age)),
                finding: None,
            };
        }
        if let Some(last) = versioned.iter().filter_map(|p| p.last_access).max() {
            let ago = now.duration_since(last).unwrap_or_default();
            return QueueVerdict::not_counted(format!(
                "this worker has not polled {queue} since Temporal was lost (last poll {} ago)",
                crate::duration::format(Duration::from_secs(ago.as_secs()))
            ));
        }
        QueueVerdict::not_counted(self.seen_instead(queue, live, mine.first().copied()))
    }

    /// None of the pollers of `queue` is this worker's (`mine`: the first one with its
    /// identity, of the wrong deployment): what they are.
    fn seen_instead(&self, queue: &str, live: &[Poller], mine: Option<&Poller>) -> String {
        match (mine, &self.deployment) {
            (Some(poller), Some(_)) => format!(
                "this worker polls {queue} {}, expected {}",
                match &poller.deployment {
                    Some((name, build)) => format!("as deployment '{name}' build '{build}'"),
                    None => "unversioned".into(),
                },
                self.deployment().unwrap_or_default()
            ),
            _ if live.is_empty() => format!(
                "no pollers at all on {queue} in {} at {}",
                self.namespace, self.address
            ),
            _ => format!(
                "no poller of this worker ({}) on {queue}; polled by {}",
                self.identity.shown(),
                others(live)
            ),
        }
    }
}

/// The identities of `pollers`, the first few of them named.
fn others(pollers: &[Poller]) -> String {
    let mut others: Vec<&str> = pollers.iter().map(|p| p.identity.as_str()).collect();
    others.sort_unstable();
    others.dedup();
    let more = others.len().saturating_sub(SHOWN_IDENTITIES);
    others.truncate(SHOWN_IDENTITIES);
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    format!("{}{more}", others.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(deployment: Option<Deployment>) -> Expected {
        Expected {
            identity: Identity::SdkDefaults {
                pid_at_host: "42@pod".into(),
            },
            deployment,
            namespace: "default".into(),
            address: "127.0.0.1:7233".into(),
        }
    }

    impl Expected {
        /// What `judge` counted for one queue, and what it found instead.
        fn judged(
            &self,
            queue: &str,
            live: &[Poller],
            polled_after: Option<SystemTime>,
            now: SystemTime,
        ) -> (u64, Option<String>) {
            let verdict = self.judge(queue, live, polled_after, now);
            (verdict.counted, verdict.finding)
        }
    }

    fn poller(identity: &str, deployment: Option<(&str, &str)>) -> Poller {
        Poller {
            identity: identity.into(),
            last_access: Some(SystemTime::now()),
            deployment: deployment.map(|(n, b)| (n.into(), b.into())),
        }
    }

    #[test]
    fn findings_say_what_was_seen_instead() {
        let now = SystemTime::now();
        let plain = check(None);
        assert_eq!(
            plain.judged("documents", &[poller("42@pod", None)], None, now),
            (1, None)
        );
        assert_eq!(
            plain.judged("documents", &[], None, now).1.unwrap(),
            "no pollers at all on documents in default at 127.0.0.1:7233"
        );
        assert_eq!(
            plain
                .judged(
                    "documents",
                    &[poller("7@pod", None), poller("8@other", None)],
                    None,
                    now
                )
                .1
                .unwrap(),
            "no poller of this worker (42@pod or 42@pod@*) on documents; polled by 7@pod, 8@other"
        );

        let versioned = check(Some(Deployment {
            name: "k8s/docs".into(),
            build_id: "b2".into(),
        }));
        assert_eq!(
            versioned
                .judged(
                    "documents",
                    &[poller("42@pod", Some(("k8s/docs", "b2")))],
                    None,
                    now
                )
                .0,
            1
        );
        assert_eq!(
            versioned
                .judged("documents", &[poller("42@pod", None)], None, now)
                .1
                .unwrap(),
            "this worker polls documents unversioned, expected deployment 'k8s/docs' build 'b2'"
        );
        assert_eq!(
            versioned
                .judged(
                    "documents",
                    &[poller("42@pod", Some(("k8s/docs", "b1")))],
                    None,
                    now
                )
                .1
                .unwrap(),
            "this worker polls documents as deployment 'k8s/docs' build 'b1', expected \
             deployment 'k8s/docs' build 'b2'"
        );
    }

    #[test]
    fn after_an_outage_only_polls_since_the_loss_count() {
        let now = SystemTime::now();
        let lost = now - Duration::from_secs(30);
        let plain = check(None);
        let old = Poller {
            last_access: Some(now - Duration::from_secs(40)),
            ..poller("42@pod", None)
        };
        assert_eq!(
            plain
                .judged("documents", std::slice::from_ref(&old), None, now)
                .0,
            1
        );
        assert_eq!(
            plain.judged("documents", std::slice::from_ref(&old), Some(lost), now),
            (
                0,
                Some(
                    "this worker has not polled documents since Temporal was lost (last poll \
                     40s ago)"
                        .into()
                )
            )
        );
        let again = poller("42@pod", None);
        assert_eq!(
            plain.judged("documents", &[old, again], Some(lost), now).0,
            1
        );
        // Another pid's fresh polls never count for this worker.
        assert_eq!(
            plain
                .judged("documents", &[poller("7@pod", None)], Some(lost), now)
                .0,
            0
        );
    }

    #[test]
    fn the_proof_holds_until_the_newest_poll_ages_out() {
        let now = SystemTime::now();
        let at = |secs| Poller {
            last_access: Some(now - Duration::from_secs(secs)),
            ..poller("42@pod", None)
        };
        let verdict = check(None).judge("documents", &[at(70), at(40)], None, now);
        assert_eq!(verdict.counted, 2);
        assert_eq!(verdict.fresh_for, Some(Duration::from_secs(50)));
        assert_eq!(
            check(None).judge("documents", &[], None, now).fresh_for,
            None
        );
    }
}
