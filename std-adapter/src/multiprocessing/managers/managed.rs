//! Objects of the user's own types on a manager's server: [`Managed`] (method-name
//! dispatch) and [`ManagedProxy`](super::ManagedProxy).

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::multiprocessing::codec;

/// A type whose objects a manager's server holds and calls by method name (Python's
/// `register('Counter', Counter)` with the class's public methods exposed). The server
/// calls [`call`](Self::call) with the method's name and its encoded arguments, one
/// call at a time per object, and sends the encoded result back; an `Err` reaches the
/// client as [`ManagerError::Remote`](super::ManagerError::Remote) with its message
/// (Python's `RemoteError`).
///
/// Register a constructor, `fn() -> Box<dyn Managed>`, with
/// [`BaseManager::register_managed`](super::BaseManager::register_managed); it travels
/// to the server process as a function of this binary (the server runs the same
/// executable), so it must be a plain function, not a capturing closure.
///
/// ```
/// use conkit::multiprocessing::{self as mp, managers::{self, BaseManager, Managed, ManagedProxy}};
///
/// #[derive(Default)]
/// struct Counter {
///     n: u64,
/// }
///
/// impl Managed for Counter {
///     fn call(&mut self, method: &str, args: &[u8]) -> Result<Vec<u8>, String> {
///         match method {
///             "increment" => {
///                 let by: u64 = managers::decode_args(args)?;
///                 self.n += by;
///                 managers::encode_reply(&self.n)
///             }
///             "get" => managers::encode_reply(&self.n),
///             other => Err(format!("'Counter' object has no attribute '{other}'")),
///         }
///     }
/// }
///
/// fn new_counter() -> Box<dyn Managed> {
///     Box::new(Counter::default())
/// }
///
/// mp::init();
/// let mut m = BaseManager::default();
/// m.register_managed("Counter", new_counter, false);
/// m.start().unwrap();
/// let c: ManagedProxy = m.get("Counter").unwrap();
/// assert_eq!(c.call::<_, u64>("increment", &5u64).unwrap(), 5);
/// assert_eq!(c.call::<_, u64>("get", &()).unwrap(), 5);
/// assert!(c.call::<_, ()>("reset", &()).is_err());
/// ```
pub trait Managed: Send + 'static {
    /// Runs `method` with its encoded `args`; returns the encoded result.
    ///
    /// # Errors
    /// The message the client gets (an unknown method, arguments of the wrong type,
    /// the method's own failure).
    fn call(&mut self, method: &str, args: &[u8]) -> Result<Vec<u8>, String>;
}

/// Decodes a [`Managed::call`]'s arguments (what the client passed to
/// [`ManagedProxy::call`](super::ManagedProxy::call)).
///
/// ```
/// use conkit::multiprocessing::managers::{decode_args, encode_reply};
/// let bytes = encode_reply(&(1u8, "x")).unwrap();
/// assert_eq!(decode_args::<(u8, String)>(&bytes).unwrap(), (1, "x".to_string()));
/// assert!(decode_args::<u64>(&[]).is_err());
/// ```
///
/// # Errors
/// The arguments are not an encoding of `T` (the message says so).
pub fn decode_args<T: DeserializeOwned>(args: &[u8]) -> Result<T, String> {
    codec::from_bytes(args).map_err(|e| format!("bad arguments: {e}"))
}

/// Encodes a [`Managed::call`]'s result.
///
/// ```
/// assert_eq!(conkit::multiprocessing::managers::encode_reply(&7u8).unwrap(), [7]);
/// ```
///
/// # Errors
/// `value` cannot be encoded.
pub fn encode_reply<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, String> {
    codec::to_bytes(value).map_err(|e| e.to_string())
}
