//! The serialisation every process boundary uses: a child's arguments, values sent over
//! a [`Connection`](super), items of the process queues.
//!
//! The format is [`postcard`] (compact, no schema, `serde`). Unlike CPython's pickle,
//! decoding never runs code: a malformed or hostile buffer is a [`CodecError`], and a
//! length inside it never makes the decoder allocate more than the buffer holds.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A value could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecError {
    message: String,
}

impl CodecError {
    /// What went wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "serialisation: {}", self.message)
    }
}

impl std::error::Error for CodecError {}

/// Encodes `value`.
pub fn to_bytes<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    postcard::to_stdvec(value).map_err(|e| CodecError {
        message: e.to_string(),
    })
}

/// Appends the encoding of `value` to `out` (left as it was on an error).
pub fn extend<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<(), CodecError> {
    let start = out.len();
    let mut sink = ExtendSink { out, start };
    postcard::to_io(value, &mut sink).map(|_| ()).map_err(|e| {
        sink.out.truncate(sink.start);
        CodecError {
            message: e.to_string(),
        }
    })
}

/// `io::Write` into the caller's vector (postcard's `to_io`).
struct ExtendSink<'a> {
    out: &'a mut Vec<u8>,
    start: usize,
}

impl std::io::Write for ExtendSink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Decodes a `T` from exactly `bytes` (trailing bytes are an error: a message never
/// carries two values).
pub fn from_bytes<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (value, rest) = postcard::take_from_bytes(bytes).map_err(|e| CodecError {
        message: e.to_string(),
    })?;
    if !rest.is_empty() {
        return Err(CodecError {
            message: format!("{} trailing bytes after the value", rest.len()),
        });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let v = (1u32, String::from("x"), vec![1.5f64]);
        let b = to_bytes(&v).unwrap();
        assert_eq!(from_bytes::<(u32, String, Vec<f64>)>(&b).unwrap(), v);
        let mut longer = b.clone();
        longer.push(0);
        assert!(from_bytes::<(u32, String, Vec<f64>)>(&longer).is_err());
        assert!(from_bytes::<(u32, String, Vec<f64>)>(&b[..b.len() - 1]).is_err());
        // A huge length prefix: an error, not an allocation.
        assert!(from_bytes::<Vec<u8>>(&[0xff, 0xff, 0xff, 0xff, 0x0f]).is_err());
        let mut out = vec![9u8];
        extend(&mut out, &v).unwrap();
        assert_eq!(&out[1..], &b[..]);
    }
}
