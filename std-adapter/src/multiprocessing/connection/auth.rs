//! The authentication handshake of `multiprocessing.connection`, byte for byte.
//!
//! Reference: CPython's `deliver_challenge`/`answer_challenge` (`Lib/multiprocessing/
//! connection.py`): 3.11 and older speak HMAC-MD5 over a 20-byte challenge with no
//! digest name; 3.12+ send `#CHALLENGE#{sha256}` + 40 random bytes, answer with
//! `{name}` + the HMAC of the whole challenge (prefix included), and recognise the old
//! form by its length (a 20-byte challenge, a 16-byte answer). Every frame of the
//! exchange is received with a 256-byte limit. The serving side:
//!
//! ```text
//! server -> client   #CHALLENGE#{sha256}<40 random bytes>     (3.11: 20 bytes, no {name})
//! client -> server   {sha256}<HMAC-SHA256(key, challenge)>    (to a 20-byte one: raw HMAC-MD5)
//! server -> client   #WELCOME#  or  #FAILURE#
//! ```
//!
//! then the same with the roles swapped. Both directions of the version mix work: a
//! 3.11 client answers a `{sha256}` challenge with a raw HMAC-MD5 over all of it,
//! which a modern server accepts (16 bytes); a 3.11 server's 20-byte challenge gets a
//! raw HMAC-MD5 answer. MACs are compared in constant time.

use hmac::{Hmac, KeyInit, Mac};

use super::{sys, AuthenticationError, Connection, ConnectionError};

/// Random bytes in a modern challenge (CPython's `MESSAGE_LENGTH`).
const MESSAGE_LENGTH: usize = 40;
/// A legacy (≤ 3.11) challenge's length (`_MD5ONLY_MESSAGE_LENGTH`).
const MD5ONLY_MESSAGE_LENGTH: usize = 20;
/// A raw HMAC-MD5's length (`_MD5_DIGEST_LEN`).
const MD5_DIGEST_LEN: usize = 16;
/// The longest digest name (`_MAX_DIGEST_LEN`: `sha3_256`).
const MAX_DIGEST_LEN: usize = 8;
/// Every handshake frame is received with this limit ("reject large message").
const HANDSHAKE_MAX: usize = 256;

const CHALLENGE: &[u8] = b"#CHALLENGE#";
const WELCOME: &[u8] = b"#WELCOME#";
const FAILURE: &[u8] = b"#FAILURE#";

/// The digest a serving side asks for in its challenge (CPython's `digest_name`
/// argument of `deliver_challenge`; `_ALLOWED_DIGESTS`), or the legacy form.
///
/// ```
/// use conkit::multiprocessing::connection::ChallengeDigest;
/// assert_eq!(ChallengeDigest::default(), ChallengeDigest::Sha256);
/// assert_eq!(ChallengeDigest::Sha3_256.name(), Some("sha3_256"));
/// assert_eq!(ChallengeDigest::Legacy.name(), None);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ChallengeDigest {
    /// CPython ≤ 3.11: 20 random bytes, no digest name, HMAC-MD5.
    Legacy,
    /// `{md5}`.
    Md5,
    /// `{sha256}`: CPython ≥ 3.12's default.
    #[default]
    Sha256,
    /// `{sha384}`.
    Sha384,
    /// `{sha3_256}`.
    Sha3_256,
    /// `{sha3_384}`.
    Sha3_384,
}

impl ChallengeDigest {
    /// The name written between braces (`None` for [`Legacy`](Self::Legacy)).
    ///
    /// ```
    /// # use conkit::multiprocessing::connection::ChallengeDigest;
    /// assert_eq!(ChallengeDigest::Sha384.name(), Some("sha384"));
    /// ```
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::Legacy => return None,
            Self::Md5 => "md5",
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha3_256 => "sha3_256",
            Self::Sha3_384 => "sha3_384",
        })
    }

    fn from_name(name: &[u8]) -> Option<Self> {
        Some(match name {
            b"md5" => Self::Md5,
            b"sha256" => Self::Sha256,
            b"sha384" => Self::Sha384,
            b"sha3_256" => Self::Sha3_256,
            b"sha3_384" => Self::Sha3_384,
            _ => return None,
        })
    }

    /// HMAC of `message` under `key` with this digest (`Legacy`: MD5).
    fn mac(self, key: &[u8], message: &[u8]) -> Vec<u8> {
        fn run<M: Mac + KeyInit>(key: &[u8], message: &[u8]) -> Vec<u8> {
            // HMAC takes a key of any length: `new_from_slice` cannot fail.
            match <M as KeyInit>::new_from_slice(key) {
                Ok(mut m) => {
                    m.update(message);
                    m.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            }
        }
        match self {
            Self::Legacy | Self::Md5 => run::<Hmac<md5::Md5>>(key, message),
            Self::Sha256 => run::<Hmac<sha2::Sha256>>(key, message),
            Self::Sha384 => run::<Hmac<sha2::Sha384>>(key, message),
            Self::Sha3_256 => run::<hmac::SimpleHmac<sha3::Sha3_256>>(key, message),
            Self::Sha3_384 => run::<hmac::SimpleHmac<sha3::Sha3_384>>(key, message),
        }
    }
}

/// CPython's `_get_digest_name_and_payload`: `(None, message)` for the legacy lengths,
/// else the `{name}` prefix and the rest.
fn digest_and_payload(
    message: &[u8],
) -> Result<(Option<ChallengeDigest>, &[u8]), AuthenticationError> {
    if message.len() == MD5ONLY_MESSAGE_LENGTH || message.len() == MD5_DIGEST_LEN {
        return Ok((None, message));
    }
    if message.first() == Some(&b'{') {
        // `message.find(b'}', 1, _MAX_DIGEST_LEN + 2)`
        let end = message.len().min(MAX_DIGEST_LEN + 2);
        if let Some(curly) = message[1..end].iter().position(|&b| b == b'}') {
            let curly = curly + 1;
            if let Some(d) = ChallengeDigest::from_name(&message[1..curly]) {
                return Ok((Some(d), &message[curly + 1..]));
            }
        }
    }
    Err(AuthenticationError::new(format!(
        "unsupported message length, missing digest prefix, or unsupported digest: \
         message={}",
        escape(message)
    )))
}

/// `bytes.__repr__`-like text of at most 64 bytes.
fn escape(b: &[u8]) -> String {
    let mut s: String = b
        .iter()
        .take(64)
        .flat_map(|&c| std::ascii::escape_default(c))
        .map(char::from)
        .collect();
    if b.len() > 64 {
        s.push('…');
    }
    format!("b'{s}'")
}

/// Constant-time equality of two MACs of the same length.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// CPython's `_create_response`.
fn create_response(authkey: &[u8], message: &[u8]) -> Result<Vec<u8>, AuthenticationError> {
    match digest_and_payload(message)?.0 {
        None => Ok(ChallengeDigest::Legacy.mac(authkey, message)),
        Some(d) => {
            let mut out = Vec::with_capacity(MAX_DIGEST_LEN + 2 + 48);
            out.push(b'{');
            out.extend_from_slice(d.name().unwrap_or("md5").as_bytes());
            out.push(b'}');
            out.extend_from_slice(&d.mac(authkey, message));
            Ok(out)
        }
    }
}

/// CPython's `_verify_challenge`.
fn verify(authkey: &[u8], message: &[u8], response: &[u8]) -> Result<(), AuthenticationError> {
    let (digest, mac) = digest_and_payload(response)?;
    let digest = digest.unwrap_or(ChallengeDigest::Md5);
    let expected = digest.mac(authkey, message);
    if expected.len() != mac.len() {
        return Err(AuthenticationError::new(format!(
            "expected '{}' of length {} got {}",
            digest.name().unwrap_or("md5"),
            expected.len(),
            mac.len()
        )));
    }
    if !same(&expected, mac) {
        return Err(AuthenticationError::new("digest received was wrong"));
    }
    Ok(())
}

/// The serving side's half of the handshake (CPython's `deliver_challenge`), asking for
/// HMAC-SHA256: sends a challenge, checks the answer, sends `#WELCOME#` or
/// `#FAILURE#`. A wrong answer is [`ConnectionError::Authentication`] (after
/// `#FAILURE#` is sent).
///
/// ```
/// use conkit::multiprocessing::connection::{answer_challenge, deliver_challenge};
/// use conkit::multiprocessing::Pipe;
///
/// let (mut server, mut client) = Pipe(true).unwrap();
/// let t = std::thread::spawn(move || answer_challenge(&mut client, b"secret"));
/// deliver_challenge(&mut server, b"secret").unwrap();
/// t.join().unwrap().unwrap();
/// ```
pub fn deliver_challenge(
    connection: &mut Connection,
    authkey: &[u8],
) -> Result<(), ConnectionError> {
    deliver_challenge_with(connection, authkey, ChallengeDigest::Sha256)
}

/// [`deliver_challenge`] asking for another digest, or the legacy MD5 form of CPython
/// ≤ 3.11 ([`ChallengeDigest::Legacy`]).
///
/// ```
/// use conkit::multiprocessing::connection::{
///     answer_challenge, deliver_challenge_with, ChallengeDigest,
/// };
/// use conkit::multiprocessing::Pipe;
///
/// let (mut server, mut client) = Pipe(true).unwrap();
/// let t = std::thread::spawn(move || answer_challenge(&mut client, b"k"));
/// deliver_challenge_with(&mut server, b"k", ChallengeDigest::Legacy).unwrap();
/// t.join().unwrap().unwrap();
/// ```
pub fn deliver_challenge_with(
    connection: &mut Connection,
    authkey: &[u8],
    digest: ChallengeDigest,
) -> Result<(), ConnectionError> {
    let mut message = Vec::with_capacity(MAX_DIGEST_LEN + 2 + MESSAGE_LENGTH);
    match digest.name() {
        None => {
            message.resize(MD5ONLY_MESSAGE_LENGTH, 0);
            sys::random_bytes(&mut message)?;
        }
        Some(name) => {
            message.push(b'{');
            message.extend_from_slice(name.as_bytes());
            message.push(b'}');
            let start = message.len();
            message.resize(start + MESSAGE_LENGTH, 0);
            sys::random_bytes(&mut message[start..])?;
        }
    }
    let mut frame = CHALLENGE.to_vec();
    frame.extend_from_slice(&message);
    connection.send_bytes(&frame)?;
    let response = connection.recv_bytes_max(HANDSHAKE_MAX)?;
    match verify(authkey, &message, &response) {
        Ok(()) => {
            connection.send_bytes(WELCOME)?;
            Ok(())
        }
        Err(e) => {
            // The peer may be gone already; the authentication error is what matters.
            let _ = connection.send_bytes(FAILURE);
            Err(e.into())
        }
    }
}

/// The connecting side's half of the handshake (CPython's `answer_challenge`): answers
/// the peer's challenge with the digest it asks for (raw HMAC-MD5 to a legacy one) and
/// expects `#WELCOME#`; anything else is [`ConnectionError::Authentication`].
///
/// ```
/// use conkit::multiprocessing::connection::{answer_challenge, deliver_challenge, ConnectionError};
/// use conkit::multiprocessing::Pipe;
///
/// let (mut server, mut client) = Pipe(true).unwrap();
/// let t = std::thread::spawn(move || deliver_challenge(&mut server, b"right"));
/// assert!(matches!(
///     answer_challenge(&mut client, b"wrong"),
///     Err(ConnectionError::Authentication(_))
/// ));
/// assert!(t.join().unwrap().is_err());
/// ```
pub fn answer_challenge(
    connection: &mut Connection,
    authkey: &[u8],
) -> Result<(), ConnectionError> {
    let message = connection.recv_bytes_max(HANDSHAKE_MAX)?;
    let Some(message) = message.strip_prefix(CHALLENGE) else {
        return Err(AuthenticationError::new(format!(
            "Protocol error, expected challenge: message={}",
            escape(&message)
        ))
        .into());
    };
    if message.len() < MD5ONLY_MESSAGE_LENGTH {
        return Err(AuthenticationError::new(format!(
            "challenge too short: {} bytes",
            message.len()
        ))
        .into());
    }
    let digest = create_response(authkey, message)?;
    connection.send_bytes(&digest)?;
    let response = connection.recv_bytes_max(HANDSHAKE_MAX)?;
    if response != WELCOME {
        return Err(AuthenticationError::new("digest sent was rejected").into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        // RFC 2104's HMAC-MD5 test case 2 and RFC 4231's HMAC-SHA256 case 2.
        let md5 = ChallengeDigest::Md5.mac(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            md5,
            [
                0x75, 0x0c, 0x78, 0x3e, 0x6a, 0xb0, 0xb5, 0x03, 0xea, 0xa8, 0x6e, 0x31, 0x0a, 0x5d,
                0xb7, 0x38
            ]
        );
        let sha = ChallengeDigest::Sha256.mac(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(&sha[..4], &[0x5b, 0xdc, 0xc1, 0x46]);
        assert_eq!(ChallengeDigest::Sha384.mac(b"k", b"m").len(), 48);
        assert_eq!(ChallengeDigest::Sha3_256.mac(b"k", b"m").len(), 32);
        assert_eq!(ChallengeDigest::Sha3_384.mac(b"k", b"m").len(), 48);
    }

    #[test]
    fn digest_prefix_parsing_as_cpython() {
        assert_eq!(digest_and_payload(&[0; 20]).unwrap().0, None);
        assert_eq!(digest_and_payload(&[0; 16]).unwrap().0, None);
        let (d, p) = digest_and_payload(b"{sha256}abcdefghijklmnopqrstuvwxyz").unwrap();
        assert_eq!(d, Some(ChallengeDigest::Sha256));
        assert_eq!(p, b"abcdefghijklmnopqrstuvwxyz");
        assert!(digest_and_payload(b"{sha512}abcdefghijklmnopqrstuvwxyz").is_err());
        assert!(digest_and_payload(b"no prefix at all, 30 bytes....").is_err());
        assert!(digest_and_payload(b"{").is_err());
        assert!(digest_and_payload(b"").is_err());
        // The closing brace must come within the first ten bytes.
        assert!(digest_and_payload(b"{sha3_2566}xxxxxxxxxxxxxxxxxxxxxxxxxxx").is_err());
    }

    #[test]
    fn response_to_modern_and_legacy_challenges() {
        let modern = b"{sha384}0123456789012345678901234567890123456789";
        let r = create_response(b"key", modern).unwrap();
        assert!(r.starts_with(b"{sha384}"));
        verify(b"key", modern, &r).unwrap();
        assert!(verify(b"other", modern, &r).is_err());
        // A legacy client answers a modern challenge with a raw HMAC-MD5 of all of it.
        let legacy_answer = ChallengeDigest::Md5.mac(b"key", modern);
        verify(b"key", modern, &legacy_answer).unwrap();
        // A legacy challenge gets a raw MD5 answer.
        let old = [7u8; 20];
        assert_eq!(create_response(b"key", &old).unwrap().len(), 16);
        // A truncated MAC is refused with CPython's message.
        let mut short = r.clone();
        short.pop();
        assert!(verify(b"key", modern, &short)
            .unwrap_err()
            .message()
            .starts_with("expected 'sha384' of length 48 got 47"));
    }
}
