//! Validated, normalized addresses. The SMTP and GraphQL edges turn raw strings into these types;
//! the rest of the code never handles an unchecked address. Addresses compare case-insensitively,
//! so both parts are stored lower-cased.

use std::fmt;

use rand::{distr::Alphanumeric, Rng};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("domain name `{0}` is not a valid host name")]
    InvalidDomain(String),
    #[error("local part `{0}` is not valid (1-64 bytes of letters, digits, `.` and !#$%&'*+-/=?^_`{{|}}~)")]
    InvalidLocalPart(String),
    #[error("`{0}` is not an address of the form local@domain")]
    MissingAt(String),
}

/// A lower-case DNS host name (`localhost` included), without a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DomainName(String);

impl DomainName {
    pub fn parse(raw: &str) -> Result<Self, AddressError> {
        let name = raw.strip_suffix('.').unwrap_or(raw).to_ascii_lowercase();
        let label_ok = |label: &str| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
            return Err(AddressError::InvalidDomain(raw.to_owned()));
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A lower-case, unquoted local part (RFC 5322 dot-atom, UTF-8 allowed as with SMTPUTF8).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LocalPart(String);

impl LocalPart {
    pub fn parse(raw: &str) -> Result<Self, AddressError> {
        let local = raw.to_lowercase();
        let atext = |c: char| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
        let valid = (1..=64).contains(&local.len())
            && local
                .split('.')
                .all(|atom| !atom.is_empty() && atom.chars().all(atext));
        if valid {
            Ok(Self(local))
        } else {
            Err(AddressError::InvalidLocalPart(raw.to_owned()))
        }
    }

    /// A fresh, unguessable local part (10 characters from a CSPRNG: about 52 bits).
    pub fn random(rng: &mut impl Rng) -> Self {
        let local = rng
            .sample_iter(Alphanumeric)
            .take(10)
            .map(|b| char::from(b).to_ascii_lowercase())
            .collect();
        Self(local)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A mailbox name that stands for a domain's operators (RFC 2142, and the usual senders'
    /// names): on a domain many tenants share, nobody may hold it, or one tenant could read
    /// mail meant for whoever runs the domain.
    pub fn is_role_name(&self) -> bool {
        const ROLES: [&str; 16] = [
            "abuse",
            "admin",
            "administrator",
            "hostmaster",
            "info",
            "mailer-daemon",
            "marketing",
            "no-reply",
            "noc",
            "noreply",
            "postmaster",
            "root",
            "sales",
            "security",
            "support",
            "webmaster",
        ];
        ROLES.contains(&self.0.as_str())
    }
}

impl fmt::Display for LocalPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress {
    pub local: LocalPart,
    pub domain: DomainName,
}

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, AddressError> {
        let (local, domain) = raw
            .rsplit_once('@')
            .ok_or_else(|| AddressError::MissingAt(raw.to_owned()))?;
        Ok(Self {
            local: LocalPart::parse(local)?,
            domain: DomainName::parse(domain)?,
        })
    }
}

impl EmailAddress {
    /// Splits plus-addressing: `local+tag@domain` is the inbox `local@domain` with tag `tag`
    /// (lower-case). An address without a usable tag comes back unchanged.
    pub fn split_tag(self) -> (EmailAddress, Option<String>) {
        match self.local.plus_split() {
            Some((local, tag)) => (
                EmailAddress {
                    local,
                    domain: self.domain,
                },
                tag,
            ),
            None => (self, None),
        }
    }
}

impl LocalPart {
    /// `base+tag` as the local part `base` and the tag (none when empty); `None` when mail to
    /// this local part lands in an inbox of its own.
    fn plus_split(&self) -> Option<(LocalPart, Option<String>)> {
        let (base, tag) = self.0.split_once('+')?;
        let base = LocalPart::parse(base).ok()?;
        Some((base, (!tag.is_empty()).then(|| tag.to_owned())))
    }

    /// Whether mail to this local part is delivered to another inbox (`base+tag` to `base`),
    /// so an inbox of this name could never receive any.
    pub fn is_plus_address(&self) -> bool {
        self.plus_split().is_some()
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_normalized_to_lower_case() {
        let address = EmailAddress::parse("John.Doe@Example.COM.").expect("valid");
        assert_eq!(address.to_string(), "john.doe@example.com");
    }

    #[test]
    fn invalid_addresses_are_refused() {
        for raw in [
            "no-at-sign",
            "@example.com",
            "a..b@example.com",
            ".a@example.com",
            "a b@example.com",
            "\"quoted\"@example.com",
            "a@-bad.example",
            "a@bad_domain.example",
            "a@",
        ] {
            assert!(EmailAddress::parse(raw).is_err(), "{raw} should be refused");
        }
        assert!(LocalPart::parse(&"x".repeat(65)).is_err());
    }

    #[test]
    fn plus_addresses_split_into_inbox_and_tag() {
        let split = |raw: &str| {
            let (inbox, tag) = EmailAddress::parse(raw).expect("valid").split_tag();
            (inbox.to_string(), tag)
        };
        assert_eq!(
            split("Bob+Signup@x.test"),
            ("bob@x.test".into(), Some("signup".into()))
        );
        assert_eq!(
            split("bob+a+b@x.test"),
            ("bob@x.test".into(), Some("a+b".into()))
        );
        assert_eq!(split("bob+@x.test"), ("bob@x.test".into(), None));
        assert_eq!(split("+only@x.test"), ("+only@x.test".into(), None));
        assert_eq!(split("plain@x.test"), ("plain@x.test".into(), None));
        let local = |raw: &str| LocalPart::parse(raw).expect("valid");
        assert!(local("qa+x").is_plus_address());
        assert!(local("qa+").is_plus_address());
        assert!(!local("+only").is_plus_address());
        assert!(!local("qa").is_plus_address());
    }

    #[test]
    fn utf8_local_parts_are_accepted() {
        let address = EmailAddress::parse("Ünïcödé@example.com").expect("valid");
        assert_eq!(address.local.as_str(), "ünïcödé");
    }

    #[test]
    fn random_local_parts_are_valid_and_distinct() {
        let mut rng = rand::rng();
        let a = LocalPart::random(&mut rng);
        let b = LocalPart::random(&mut rng);
        assert_ne!(a, b);
        assert_eq!(LocalPart::parse(a.as_str()), Ok(a));
    }
}
