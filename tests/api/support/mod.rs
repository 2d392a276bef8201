//! What the test modules share. They import it from here, never from one
//! another: the harness ([`TestApp`] over a fresh database of its [`store`],
//! holding the [`fixture`] catalog), the scenario [`macros`], a browser
//! ([`Visitor`]) and a real one ([`browser`]), shortcuts through the [`api`] and the [`writes`] layer,
//! readings of the [`cache`], responses in a content coding ([`encoded`]), the [`cli`] binary run as a process, servers a
//! test owns ([`redis_server`], [`smtp_sink`], [`tcp_proxy`]), the [`route_table`], the
//! listing [`oracle`] and the [`openapi`] check.

pub mod api;
pub mod app;
pub mod browser;
pub mod cache;
pub mod cli;
pub mod encoded;
pub mod fixture;
pub mod macros;
pub mod openapi;
pub mod oracle;
pub mod redis_server;
pub mod route_table;
pub mod smtp_sink;
pub mod store;
pub mod tcp_proxy;
pub mod visitor;
pub mod writes;

pub use app::TestApp;
pub use store::Backend;
pub use visitor::{Visitor, csrf_in};

/// A loopback port nothing listens on yet, for a server a test starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}
