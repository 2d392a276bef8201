//! One integration-test binary: a real server over HTTP, on SQLite and on
//! PostgreSQL. Modules group the behaviour they prove.

mod support;

mod accessibility;
mod accounts;
mod admin;
mod api_writes;
mod browser;
mod cache;
mod cache_ops;
mod cache_pins;
mod cache_policy;
mod cart;
mod catalog_api;
mod catalog_pages;
mod checkout;
mod cli;
mod compression;
mod credentials;
mod database_outage;
mod database_stores;
mod drf_parity;
mod drf_queries;
mod embedded;
mod hostile;
mod images;
mod local_cache;
mod mail;
mod openapi;
mod orders;
mod orders_cache;
mod outbox_namespaces;
mod redis_cluster;
mod relevance;
mod route_table;
mod schemathesis;
mod search_index;
mod security;
mod session_rights;
mod shop_look;
mod shutdown;
mod slow_clients;
mod throttles;
mod varnish;
