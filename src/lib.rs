//! storefront: a server-rendered shop with a JSON API over SeaORM.
//!
//! `main.rs` only parses the command line and settings; everything else is
//! here so tests can build the real application.

pub mod auth;
pub mod cache;
pub mod cli;
pub mod config;
pub mod domain;
pub mod encoding;
pub mod error;
pub mod mail;
pub mod media;
pub mod metrics;
pub mod models;
pub mod routes;
pub mod seed;
pub mod server;
pub mod services;
pub mod startup;
pub mod state;
pub mod stores;
pub mod telemetry;
pub mod views;
