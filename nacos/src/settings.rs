//! What an operator may choose about the Nacos API.

use std::collections::BTreeMap;
use std::time::Duration;

use sha2::{Digest, Sha256};

/// Settings of the Nacos API.
///
/// Build it from [`NacosSettings::default`] and change the fields you need.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NacosSettings {
    /// The keel registry tenant that Nacos's public namespace (`namespaceId` empty or
    /// `public`) maps to. Default `default`, keel's own default tenant, so services registered
    /// natively without `X-Tenant-Id` are visible to Nacos clients and the other way round.
    /// A Nacos request naming this tenant literally as its `namespaceId` is refused, because it
    /// would silently share the public namespace.
    pub public_tenant: String,
    /// The keel config center env that Nacos's public namespace (config `tenant` empty,
    /// `public` or `null`) maps to; any other tenant is the env of its own name. Default
    /// `public`.
    pub public_env: String,
    /// Auth: `None` (the default) serves every request and answers any login with a token;
    /// with users, login checks their credentials and every other Nacos call needs a valid
    /// token.
    pub auth: Option<NacosAuth>,
    /// The lifetime a login answer announces (`tokenTtl`); clients log in again before it
    /// passes. Default 18000 s, Nacos's.
    pub token_ttl: Duration,
}

impl Default for NacosSettings {
    fn default() -> Self {
        NacosSettings {
            public_tenant: keel_registry::DEFAULT_TENANT.to_owned(),
            public_env: "public".to_owned(),
            auth: None,
            token_ttl: Duration::from_secs(18_000),
        }
    }
}

/// Nacos auth turned on: who may log in, and the key their tokens are signed with.
#[derive(Clone, PartialEq, Eq)]
pub struct NacosAuth {
    /// Username → SHA-256 of the password (only digests are kept in memory).
    users: BTreeMap<String, [u8; 32]>,
    /// Signs tokens. Every node of a cluster must share it: a token from one node is then
    /// valid on all of them.
    secret: Vec<u8>,
}

impl NacosAuth {
    /// Auth with `users` (username, password) and the signing key `secret` (at least 32
    /// bytes; shared by every node).
    pub fn new<'a>(
        users: impl IntoIterator<Item = (&'a str, &'a str)>,
        secret: &[u8],
    ) -> Result<Self, String> {
        if secret.len() < 32 {
            return Err(format!(
                "the token secret must be at least 32 bytes; it has {}",
                secret.len()
            ));
        }
        let users: BTreeMap<_, _> = users
            .into_iter()
            .map(|(name, password)| (name.to_owned(), Sha256::digest(password.as_bytes()).into()))
            .collect();
        if users.is_empty() {
            return Err("auth needs at least one user".to_owned());
        }
        Ok(NacosAuth {
            users,
            secret: secret.to_vec(),
        })
    }

    /// Whether `password` is `username`'s.
    pub(crate) fn check(&self, username: &str, password: &str) -> bool {
        let given: [u8; 32] = Sha256::digest(password.as_bytes()).into();
        // Digests of equal length: comparing them leaks nothing useful about the password.
        self.users
            .get(username)
            .is_some_and(|known| *known == given)
    }

    /// Whether `username` is (still) a user.
    pub(crate) fn has_user(&self, username: &str) -> bool {
        self.users.contains_key(username)
    }

    /// The signing key.
    pub(crate) fn secret(&self) -> &[u8] {
        &self.secret
    }
}

impl std::fmt::Debug for NacosAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the digests or the secret.
        f.debug_struct("NacosAuth")
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}
