//! promshard: a Prometheus-compatible scraping shard engine.

pub mod config;
pub mod http_client;
pub mod labels;
pub mod relabel;
pub mod sd;
