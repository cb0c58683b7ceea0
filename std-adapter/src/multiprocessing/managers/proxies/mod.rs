//! The typed proxies: each holds a shared [`Token`] and turns its methods into requests.
//! Values are encoded on the client (the server holds bytes); a reply that does not
//! decode as the proxy's type is [`ManagerError::Codec`](super::ManagerError::Codec).

use super::client::Token;

mod collections;
mod managed;
mod sync;

pub use collections::{ArrayProxy, DictProxy, ListProxy, NamespaceProxy, ValueProxy};
pub use managed::ManagedProxy;
pub use sync::{
    BarrierProxy, BoundedSemaphoreProxy, ConditionProxy, EventProxy, LockProxy, ProxyGuard,
    QueueProxy, RLockProxy, SemaphoreProxy,
};

/// A typed handle on an object of a manager's server (Python's `BaseProxy`). Proxies
/// are `Clone` (sharing one reference), `Send + Sync`, and `Serialize`/`Deserialize`:
/// pass them as [`Process`](crate::multiprocessing::Process) or
/// [`Pool`](crate::multiprocessing::Pool) arguments, or put them in a manager queue
/// (see [`Token`] for what travels).
///
/// ```
/// use conkit::multiprocessing::managers::{DictProxy, Proxy};
/// assert_eq!(<DictProxy<String, u32> as Proxy>::KIND, "dict");
/// ```
pub trait Proxy: Sized {
    /// The [`Kind::name`](super::Kind::name) this proxy works with.
    const KIND: &'static str;

    /// Wraps a token (checked to be of [`KIND`](Self::KIND) by the caller).
    #[doc(hidden)]
    fn from_token(token: Token) -> Self;

    /// The reference this proxy holds.
    fn token(&self) -> &Token;
}

macro_rules! proxy {
    ($(#[$m:meta])* $name:ident [$($p:ident),*] $kind:literal) => {
        $(#[$m])*
        pub struct $name<$($p),*> {
            token: std::sync::Arc<$crate::multiprocessing::managers::Token>,
            _t: std::marker::PhantomData<fn() -> ($($p,)*)>,
        }

        impl<$($p),*> $crate::multiprocessing::managers::Proxy for $name<$($p),*> {
            const KIND: &'static str = $kind;
            fn from_token(token: $crate::multiprocessing::managers::Token) -> Self {
                Self { token: std::sync::Arc::new(token), _t: std::marker::PhantomData }
            }
            fn token(&self) -> &$crate::multiprocessing::managers::Token {
                &self.token
            }
        }

        impl<$($p),*> $name<$($p),*> {
            /// The reference this proxy holds (its object's id, kind and server).
            pub fn token(&self) -> &$crate::multiprocessing::managers::Token {
                &self.token
            }
        }

        impl<$($p),*> Clone for $name<$($p),*> {
            fn clone(&self) -> Self {
                Self { token: self.token.clone(), _t: std::marker::PhantomData }
            }
        }

        impl<$($p),*> std::fmt::Debug for $name<$($p),*> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_tuple(stringify!($name)).field(&*self.token).finish()
            }
        }

        impl<$($p),*> serde::Serialize for $name<$($p),*> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                (*self.token).serialize(s)
            }
        }

        impl<'de, $($p),*> serde::Deserialize<'de> for $name<$($p),*> {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let token = $crate::multiprocessing::managers::Token::deserialize(d)?;
                if token.kind().name() != $kind {
                    return Err(serde::de::Error::custom(format!(
                        "a proxy of a {} received where a {} was expected",
                        token.kind().name(),
                        $kind
                    )));
                }
                Ok(<Self as $crate::multiprocessing::managers::Proxy>::from_token(token))
            }
        }
    };
}
pub(crate) use proxy;
