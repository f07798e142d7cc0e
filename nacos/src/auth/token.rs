//! Login tokens when auth is on: `base64url(username).expiry.signature`, the signature an
//! HMAC-SHA256 of the first two parts under the cluster's shared secret. Stateless, so a token
//! one node gave out is valid on every node, and survives restarts until it expires.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use data_encoding::{BASE64URL_NOPAD, HEXLOWER};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Why a token was refused, in Nacos's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// No token, or its user is gone.
    UserNotFound,
    /// Not a token this cluster signed.
    Invalid,
    /// Past its lifetime.
    Expired,
}

impl Refused {
    /// Nacos's message.
    pub(crate) fn message(self) -> &'static str {
        match self {
            Refused::UserNotFound => "user not found!",
            Refused::Invalid => "token invalid!",
            Refused::Expired => "token expired!",
        }
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn mac(secret: &[u8], payload: &str) -> Hmac<Sha256> {
    // HMAC takes keys of any length.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    mac.update(payload.as_bytes());
    mac
}

/// A token for `username`, valid for `ttl`.
pub(crate) fn issue(secret: &[u8], username: &str, ttl: Duration) -> String {
    let payload = format!(
        "{}.{}",
        BASE64URL_NOPAD.encode(username.as_bytes()),
        now_secs().saturating_add(ttl.as_secs())
    );
    let signature = HEXLOWER.encode(&mac(secret, &payload).finalize().into_bytes());
    format!("{payload}.{signature}")
}

/// The user a token was issued to, if it is valid now.
pub(crate) fn verify(secret: &[u8], token: &str) -> Result<String, Refused> {
    let (payload, signature) = token.rsplit_once('.').ok_or(Refused::Invalid)?;
    let signature = HEXLOWER
        .decode(signature.as_bytes())
        .map_err(|_| Refused::Invalid)?;
    // `verify_slice` compares in constant time.
    mac(secret, payload)
        .verify_slice(&signature)
        .map_err(|_| Refused::Invalid)?;
    let (user, expiry) = payload.split_once('.').ok_or(Refused::Invalid)?;
    let expiry: u64 = expiry.parse().map_err(|_| Refused::Invalid)?;
    if expiry <= now_secs() {
        return Err(Refused::Expired);
    }
    let user = BASE64URL_NOPAD
        .decode(user.as_bytes())
        .ok()
        .and_then(|u| String::from_utf8(u).ok())
        .ok_or(Refused::Invalid)?;
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn tokens_verify_until_they_expire_and_only_under_their_secret() {
        let token = issue(SECRET, "nacos.user", Duration::from_secs(60));
        assert_eq!(verify(SECRET, &token), Ok("nacos.user".to_owned()));
        assert_eq!(
            verify(b"another secret of 32 bytes......", &token),
            Err(Refused::Invalid)
        );
        let mut tampered = token;
        tampered.replace_range(0..1, "x");
        assert_eq!(verify(SECRET, &tampered), Err(Refused::Invalid));
        assert_eq!(verify(SECRET, "garbage"), Err(Refused::Invalid));
        assert_eq!(verify(SECRET, ""), Err(Refused::Invalid));
        let expired = issue(SECRET, "u", Duration::ZERO);
        assert_eq!(verify(SECRET, &expired), Err(Refused::Expired));
    }
}
