//! Which poller identities are this worker's: the SDKs' defaults for its pid and host, those
//! of any process of this host (`watch`), or a pattern from `--worker-identity`.

/// Which identities are this worker's.
#[derive(Debug, Clone, PartialEq)]
pub enum Identity {
    /// The SDKs' defaults for this pid and host: `pid@host`, or Go's `pid@host@...`.
    SdkDefaults { pid_at_host: String },
    /// The SDKs' defaults of any process on this host (`watch`: the containers of a pod share
    /// its host name, not their pids).
    AnyPidOn { host: String },
    /// A pattern from `--worker-identity`, already filled in.
    Pattern(String),
}

impl Identity {
    pub fn matches(&self, identity: &str) -> bool {
        // `pid@host`, or Go's `pid@host@` with anything after.
        let sdk_default = |rest: &str, host: &str| {
            rest.strip_prefix(host)
                .is_some_and(|after| after.is_empty() || after.starts_with('@'))
        };
        match self {
            Identity::SdkDefaults { pid_at_host } => sdk_default(identity, pid_at_host),
            Identity::AnyPidOn { host } => identity.split_once('@').is_some_and(|(pid, rest)| {
                !pid.is_empty()
                    && pid.bytes().all(|b| b.is_ascii_digit())
                    && sdk_default(rest, host)
            }),
            Identity::Pattern(pattern) => matches(pattern, identity),
        }
    }

    /// As the log and the findings show it.
    pub fn shown(&self) -> String {
        match self {
            Identity::SdkDefaults { pid_at_host } => format!("{pid_at_host} or {pid_at_host}@*"),
            Identity::AnyPidOn { host } => format!("PID@{host} or PID@{host}@*"),
            Identity::Pattern(pattern) => pattern.clone(),
        }
    }
}

/// Glob match where `*` matches any run of characters.
pub fn matches(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || !text[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_patterns() {
        let cases = [
            ("123@host", "123@host", true),
            ("123@host", "1234@host", false),
            ("123@*", "123@anything", true),
            ("*@host", "99@host", true),
            ("*@host", "99@other", false),
            ("worker-*-eu", "worker-7-eu", true),
            ("worker-*-eu", "worker-7-us", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "acb", false),
            ("*", "", true),
            ("ab*ab", "ab", false),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(matches(pattern, text), expected, "{pattern} vs {text}");
        }
    }

    #[test]
    fn sdk_defaults_match_every_sdk_for_this_pid_and_host_only() {
        let mine = Identity::SdkDefaults {
            pid_at_host: "42@pod-7".into(),
        };
        let cases = [
            ("42@pod-7", true),           // Python, TypeScript, .NET, Ruby, Java
            ("42@pod-7@", true),          // Go
            ("42@pod-7@documents", true), // Go with its task queue
            ("420@pod-7", false),         // another pid on the same host
            ("4@pod-7", false),           // a prefix of this pid
            ("42@pod-70", false),         // another host
            ("42@pod-7-other", false),    // a host that merely starts the same
            ("worker-42@pod-7", false),   // a custom identity
        ];
        for (identity, expected) in cases {
            assert_eq!(mine.matches(identity), expected, "{identity}");
        }
    }

    #[test]
    fn any_pid_of_this_host_counts_for_a_pod() {
        let pod = Identity::AnyPidOn {
            host: "pod-7".into(),
        };
        let cases = [
            ("42@pod-7", true),           // Python, TypeScript, .NET, Ruby, Java
            ("7@pod-7@", true),           // Go
            ("7@pod-7@documents", true),  // Go with its task queue
            ("42@pod-70", false),         // another pod
            ("42@pod-8", false),          // another pod
            ("worker@pod-7", false),      // a custom identity: --worker-identity
            ("@pod-7", false),            // no pid
            ("42@pod-7-canary@x", false), // a host that merely starts the same
        ];
        for (identity, expected) in cases {
            assert_eq!(pod.matches(identity), expected, "{identity}");
        }
        assert_eq!(pod.shown(), "PID@pod-7 or PID@pod-7@*");
    }
}
