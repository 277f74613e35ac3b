//! Bearer-token auth for the planner's gRPC services: telemetry and catalog writes need the
//! token; reads are open unless the server protects them too. The token never appears in logs
//! or `Debug` output.

use tonic::Status;
use tonic::metadata::MetadataMap;

/// A bearer token, redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(String);

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

impl BearerToken {
    /// Returns a token from its text; surrounding whitespace (a file's final newline) is
    /// dropped. Empty or non-visible-ASCII tokens are rejected: they cannot travel in a header.
    pub fn new(text: &str) -> Result<BearerToken, String> {
        let token = text.trim();
        if token.is_empty() {
            return Err("the token is empty".to_string());
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("the token must be visible ASCII without spaces".to_string());
        }
        Ok(BearerToken(token.to_string()))
    }

    /// Reads a token from a file (e.g. a mounted Secret).
    pub fn from_file(path: &std::path::Path) -> Result<BearerToken, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("cannot read token file {}: {error}", path.display()))?;
        BearerToken::new(&text).map_err(|reason| format!("token file {}: {reason}", path.display()))
    }

    /// Returns the `authorization` header value for this token.
    pub fn header_value(&self) -> String {
        format!("Bearer {}", self.0)
    }

    /// Compares in time independent of where the first difference is.
    fn matches(&self, presented: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), presented.as_bytes());
        let mut difference = a.len() ^ b.len();
        for (i, byte) in a.iter().enumerate() {
            difference |= usize::from(byte ^ b.get(i).copied().unwrap_or(0));
        }
        difference == 0
    }
}

/// Who may call what.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthPolicy {
    /// The token writes (and, with `protect_reads`, reads) must present; `None` leaves
    /// everything open.
    pub token: Option<BearerToken>,
    /// Whether reads need the token too.
    pub protect_reads: bool,
}

/// What a call does, for the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads, and proposals (they store a plan but change nothing a plan depends on).
    Read,
    /// Catalog edits and telemetry.
    Write,
}

impl AuthPolicy {
    /// Checks a call's metadata; `UNAUTHENTICATED` when the token is needed and missing or wrong.
    pub fn check(&self, metadata: &MetadataMap, access: Access) -> Result<(), Status> {
        let Some(token) = &self.token else {
            return Ok(());
        };
        if access == Access::Read && !self.protect_reads {
            return Ok(());
        }
        let presented = metadata
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        match presented {
            Some(presented) if token.matches(presented) => Ok(()),
            Some(_) => Err(Status::unauthenticated("invalid bearer token")),
            None => Err(Status::unauthenticated(
                "this call needs a bearer token (authorization: Bearer …)",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(header: Option<&str>) -> MetadataMap {
        let mut map = MetadataMap::new();
        if let Some(value) = header {
            map.insert("authorization", value.parse().unwrap());
        }
        map
    }

    #[test]
    fn writes_need_the_token_and_reads_only_when_protected() {
        let open = AuthPolicy::default();
        assert!(open.check(&metadata(None), Access::Write).is_ok());
        let policy = AuthPolicy {
            token: Some(BearerToken::new("s3cret\n").unwrap()),
            protect_reads: false,
        };
        assert!(policy.check(&metadata(None), Access::Read).is_ok());
        let missing = policy.check(&metadata(None), Access::Write).unwrap_err();
        assert_eq!(missing.code(), tonic::Code::Unauthenticated);
        let wrong = policy
            .check(&metadata(Some("Bearer s3cre")), Access::Write)
            .unwrap_err();
        assert_eq!(wrong.message(), "invalid bearer token");
        assert!(
            policy
                .check(&metadata(Some("Bearer s3cretX")), Access::Write)
                .is_err()
        );
        assert!(
            policy
                .check(&metadata(Some("s3cret")), Access::Write)
                .is_err()
        );
        assert!(
            policy
                .check(&metadata(Some("Bearer s3cret")), Access::Write)
                .is_ok()
        );
        let protected = AuthPolicy {
            protect_reads: true,
            ..policy
        };
        assert!(protected.check(&metadata(None), Access::Read).is_err());
        assert!(
            protected
                .check(&metadata(Some("Bearer s3cret")), Access::Read)
                .is_ok()
        );
    }

    #[test]
    fn tokens_never_show_in_debug_and_bad_ones_are_rejected() {
        let token = BearerToken::new("hunter2").unwrap();
        let policy = AuthPolicy {
            token: Some(token.clone()),
            protect_reads: false,
        };
        assert!(!format!("{token:?} {policy:?}").contains("hunter2"));
        assert!(BearerToken::new("  \n").is_err());
        assert!(BearerToken::new("two words").is_err());
    }
}
