//! Cluster coordination (DESIGN.md "The ring"): where members come from ([`members`]), the
//! HRW ring ([`ring`]), this replica's view, ownership and handoffs ([`cluster`]) and the peer
//! API ([`api`]).

pub mod api;
pub mod autoscale;
pub mod balance;
pub mod cluster;
pub mod kubernetes;
pub mod members;
pub mod ring;

pub use cluster::{Cluster, ClusterOptions};
