//! Principals (what can be put on a list) and their expansion.
//!
//! A principal is written `user:<login>`, `group:<name>`, `domain:<domain>` or `everyone`.
//! Inside the core, users and groups are held by id so renames never break a list.

use std::collections::HashSet;

use crate::model::{GroupId, UserId};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Principal {
    User(UserId),
    Group(GroupId),
    /// Lower-case domain name: every user whose login ends in `@<domain>`.
    Domain(String),
    Everyone,
}

/// A principal as written by a client, before names are resolved to ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalRef {
    User(String),
    Group(String),
    Domain(String),
    Everyone,
}

impl PrincipalRef {
    /// Parses `user:…`, `group:…`, `domain:…` or `everyone`; a bare `name@domain` is a user.
    pub fn parse(s: &str) -> Option<PrincipalRef> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("everyone") {
            return Some(PrincipalRef::Everyone);
        }
        let (kind, rest) = match s.split_once(':') {
            Some((k, r)) => (k.to_ascii_lowercase(), r.trim()),
            None if s.contains('@') => ("user".to_owned(), s),
            None => return None,
        };
        if rest.is_empty() {
            return None;
        }
        match kind.as_str() {
            "user" => Some(PrincipalRef::User(rest.to_lowercase())),
            "group" => Some(PrincipalRef::Group(rest.to_owned())),
            "domain" => valid_domain(rest).then(|| PrincipalRef::Domain(rest.to_lowercase())),
            _ => None,
        }
    }
}

/// A plausible DNS-style domain: labels of letters, digits and hyphens separated by dots.
pub fn valid_domain(d: &str) -> bool {
    !d.is_empty()
        && d.len() <= 253
        && d.split('.')
            .all(|l| !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}

/// Splits and checks a login `name@domain`; returns the lower-cased login and its domain.
pub fn parse_login(login: &str) -> Option<(String, String)> {
    let login = login.trim().to_lowercase();
    let (name, domain) = login.rsplit_once('@')?;
    if name.is_empty()
        || name.chars().any(|c| c.is_whitespace() || c.is_control() || c == ':' || c == '@')
        || !valid_domain(domain)
    {
        return None;
    }
    let domain = domain.to_owned();
    Some((login, domain))
}

/// Everything a user "is" for list matching: itself, every group that contains it
/// (transitively), its domain, and everyone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Affiliations {
    pub user: UserId,
    pub domain: String,
    pub groups: HashSet<GroupId>,
}

impl Affiliations {
    pub fn matches(&self, p: &Principal) -> bool {
        match p {
            Principal::User(u) => *u == self.user,
            Principal::Group(g) => self.groups.contains(g),
            Principal::Domain(d) => *d == self.domain,
            Principal::Everyone => true,
        }
    }

    pub fn matches_any(&self, list: &[Principal]) -> bool {
        list.iter().any(|p| self.matches(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_written_form() {
        let cases: &[(&str, Option<PrincipalRef>)] = &[
            ("user:Alice@Example.org", Some(PrincipalRef::User("alice@example.org".into()))),
            ("alice@example.org", Some(PrincipalRef::User("alice@example.org".into()))),
            ("group:traders", Some(PrincipalRef::Group("traders".into()))),
            ("domain:Example.ORG", Some(PrincipalRef::Domain("example.org".into()))),
            ("everyone", Some(PrincipalRef::Everyone)),
            ("EVERYONE", Some(PrincipalRef::Everyone)),
            ("domain:bad domain", None),
            ("robot:x", None),
            ("user:", None),
            ("traders", None),
        ];
        for (input, want) in cases {
            assert_eq!(&PrincipalRef::parse(input), want, "{input}");
        }
    }

    #[test]
    fn logins_need_a_name_and_a_domain() {
        assert_eq!(parse_login("Bob@Ops.Example.com"), Some(("bob@ops.example.com".into(), "ops.example.com".into())));
        for bad in ["bob", "@example.com", "bob@", "bo b@example.com", "bob@exa mple.com", "a:b@x.org"] {
            assert_eq!(parse_login(bad), None, "{bad}");
        }
    }

    #[test]
    fn matching_covers_user_group_domain_everyone() {
        let aff = Affiliations { user: 7, domain: "example.org".into(), groups: HashSet::from([3]) };
        assert!(aff.matches(&Principal::User(7)));
        assert!(!aff.matches(&Principal::User(8)));
        assert!(aff.matches(&Principal::Group(3)));
        assert!(!aff.matches(&Principal::Group(4)));
        assert!(aff.matches(&Principal::Domain("example.org".into())));
        assert!(!aff.matches(&Principal::Domain("other.org".into())));
        assert!(aff.matches(&Principal::Everyone));
        assert!(!aff.matches_any(&[]));
    }
}
