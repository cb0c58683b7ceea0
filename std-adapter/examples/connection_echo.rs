//! An echo server and client on `multiprocessing.connection`'s wire format and
//! handshake, so either side can be CPython:
//!
//! ```sh
//! cargo run -p conkit --example connection_echo -- serve ADDRESS AUTHKEY
//! cargo run -p conkit --example connection_echo -- connect ADDRESS AUTHKEY
//! cargo run -p conkit --example connection_echo            # both, in one process
//! ```
//!
//! `serve` listens on ADDRESS (`host:port`, a socket path, or `\0name`), prints
//! `listening on ADDRESS` (with the port the kernel chose for `host:0`), accepts one
//! client, echoes every `recv_bytes` message until the client closes, and exits.
//! `connect` sends each line of its standard input as one message and prints the
//! echo. A wrong key makes both sides print the `AuthenticationError` and exit with 1.
//!
//! With Python on the other end:
//!
//! ```python
//! from multiprocessing.connection import Client
//! with Client("/tmp/echo.sock", authkey=b"secret") as c:
//!     c.send_bytes(b"hello"); print(c.recv_bytes())
//! ```

use std::io::{BufRead, Write};
use std::process::ExitCode;

use conkit::multiprocessing::connection::{Address, Client, ConnectionError, Listener};

fn serve(address: &str, authkey: &[u8]) -> Result<(), ConnectionError> {
    let mut listener = Listener::bind(address, Some(authkey))?;
    println!("listening on {}", listener.address());
    std::io::stdout().flush()?;
    let mut conn = listener.accept()?;
    let mut echoed = 0;
    loop {
        match conn.recv_bytes() {
            Ok(message) => {
                conn.send_bytes(&message)?;
                echoed += 1;
            }
            Err(ConnectionError::Eof) => break,
            Err(e) => return Err(e),
        }
    }
    println!("peer closed after {echoed} messages");
    Ok(())
}

fn connect(
    address: impl Into<Address>,
    authkey: &[u8],
    input: impl BufRead,
) -> Result<(), ConnectionError> {
    let mut conn = Client(address, Some(authkey))?;
    for line in input.lines() {
        conn.send_bytes(line?.as_bytes())?;
        println!("echo: {}", String::from_utf8_lossy(&conn.recv_bytes()?));
    }
    Ok(())
}

/// Both ends in one process: a server thread on an abstract socket name, a client
/// with the right key, then one with a wrong key.
fn demo() -> Result<(), ConnectionError> {
    let address = format!("\0conkit-echo-demo-{}", std::process::id());
    let mut listener = Listener::bind(address.as_str(), Some(b"demo key"))?;
    let server = std::thread::spawn(move || -> Result<(usize, String), ConnectionError> {
        let mut conn = listener.accept()?;
        let mut n = 0;
        while let Ok(m) = conn.recv_bytes() {
            conn.send_bytes(&m)?;
            n += 1;
        }
        let refused = match listener.accept() {
            Err(ConnectionError::Authentication(e)) => e.message().to_string(),
            other => format!("unexpected: {other:?}"),
        };
        Ok((n, refused))
    });
    connect(
        address.as_str(),
        b"demo key",
        &b"hello\nconkit speaks CPython's wire format\n"[..],
    )?;
    let client = match Client(address.as_str(), Some(b"wrong key")) {
        Err(ConnectionError::Authentication(e)) => e.message().to_string(),
        other => format!("unexpected: {other:?}"),
    };
    let (n, refused) = server.join().expect("server thread")?;
    println!("server echoed {n} messages");
    println!("wrong key, client: {client}");
    println!("wrong key, server: {refused}");
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [] => demo(),
        [mode, address, key] if mode == "serve" => serve(address, key.as_bytes()),
        [mode, address, key] if mode == "connect" => {
            connect(address.as_str(), key.as_bytes(), std::io::stdin().lock())
        }
        _ => {
            eprintln!("usage: connection_echo [serve|connect ADDRESS AUTHKEY]");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("connection_echo: {e}");
            ExitCode::FAILURE
        }
    }
}
