//! The proxy of a [`Managed`](crate::multiprocessing::managers::Managed) object.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::proxy;
use crate::multiprocessing::managers::client::enc;
use crate::multiprocessing::managers::protocol::Op;
use crate::multiprocessing::managers::ManagerError;

proxy! {
    /// An object of the user's type on a manager's server (Python's `AutoProxy` of a
    /// registered class): [`call`](Self::call) runs a method by name. See
    /// [`Managed`](crate::multiprocessing::managers::Managed) for an example.
    ManagedProxy [] "managed"
}

impl ManagedProxy {
    /// Calls `method` with `args` (a tuple for several) and decodes its result as `R`
    /// (Python's `proxy.method(*args)`).
    ///
    /// # Errors
    /// [`ManagerError::Remote`] with the method's message; [`ManagerError::Codec`] when
    /// the result is not an `R`; the server cannot be reached.
    pub fn call<A: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        method: &str,
        args: &A,
    ) -> Result<R, ManagerError> {
        self.token
            .call(Op::Method(method.to_string(), enc(args)?))?
            .value()
    }
}
