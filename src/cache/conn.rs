//! The cache's connection: one Redis server, or a Redis Cluster when
//! REDIS_URL lists several nodes. Both connect lazily and reconnect on their
//! own; the cluster client follows slot moves and failovers, and splits a
//! multi-key read such as MGET by slot.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster::{ClusterClientBuilder, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, ConnectionAddr, ConnectionInfo, FromRedisValue, IntoConnectionInfo, Pipeline, RedisFuture, Value};

use crate::config::redis_nodes;

/// The nodes REDIS_URL names: one server, or seeds of a cluster.
#[derive(Clone, Debug)]
pub struct Nodes {
    infos: Vec<ConnectionInfo>,
}

impl Nodes {
    pub fn parse(url: &str) -> Result<Self, String> {
        let infos = redis_nodes(url)
            .map(|node| node.into_connection_info().map_err(|e| format!("REDIS_URL: {node:?}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        if infos.is_empty() {
            return Err("REDIS_URL: no node given".into());
        }
        Ok(Nodes { infos })
    }

    pub fn is_cluster(&self) -> bool {
        self.infos.len() > 1
    }

    /// The first node: the server, or the first seed.
    pub fn first(&self) -> &ConnectionInfo {
        &self.infos[0]
    }

    pub fn all(&self) -> &[ConnectionInfo] {
        &self.infos
    }

    /// The same nodes, speaking RESP3 (which carries pushes).
    pub fn resp3(&self) -> Nodes {
        let infos = self
            .infos
            .iter()
            .map(|info| {
                let resp3 = info.redis_settings().clone().set_protocol(redis::ProtocolVersion::RESP3);
                info.clone().set_redis_settings(resp3)
            })
            .collect();
        Nodes { infos }
    }

    /// The same credentials and database at another address (`host:port`),
    /// as a cluster redirect names it.
    pub fn at(&self, address: &str) -> Option<ConnectionInfo> {
        let (host, port) = address.rsplit_once(':')?;
        let port: u16 = port.parse().ok()?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        let addr = match self.first().addr() {
            ConnectionAddr::TcpTls { insecure, tls_params, .. } => {
                ConnectionAddr::TcpTls { host, port, insecure: *insecure, tls_params: tls_params.clone() }
            }
            _ => ConnectionAddr::Tcp(host, port),
        };
        Some(self.first().clone().set_addr(addr))
    }
}

/// A command or a pipeline, run on either kind of connection.
pub trait Query: Sync {
    fn run<'a, T: FromRedisValue + Send + 'a>(&'a self, conn: &'a mut Conn) -> RedisFuture<'a, T>;
}

impl Query for Cmd {
    fn run<'a, T: FromRedisValue + Send + 'a>(&'a self, conn: &'a mut Conn) -> RedisFuture<'a, T> {
        Box::pin(self.query_async(conn))
    }
}

impl Query for Pipeline {
    fn run<'a, T: FromRedisValue + Send + 'a>(&'a self, conn: &'a mut Conn) -> RedisFuture<'a, T> {
        Box::pin(self.query_async(conn))
    }
}

/// A cheap-to-clone handle on the cache's Redis.
#[derive(Clone)]
pub enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Conn {
    /// Connects in the background; the shop starts (degraded) while Redis
    /// is down.
    pub fn lazy(nodes: &Nodes, timeout: Duration) -> Result<Conn, String> {
        let connect = timeout.max(Duration::from_millis(250));
        if nodes.is_cluster() {
            let client = ClusterClientBuilder::new(nodes.all().to_vec())
                .connection_timeout(connect)
                .response_timeout(timeout)
                .retries(1)
                .max_retry_wait(500)
                .build()
                .map_err(|e| format!("REDIS_URL: {e}"))?;
            let config = ClusterConfig::new().set_connection_timeout(connect).set_response_timeout(timeout);
            Ok(Conn::Cluster(client.get_pending_async_connection_with_config(config)))
        } else {
            let client = redis::Client::open(nodes.first().clone()).map_err(|e| format!("REDIS_URL: {e}"))?;
            let config = redis::aio::ConnectionManagerConfig::new()
                .set_connection_timeout(Some(connect))
                .set_response_timeout(Some(timeout))
                .set_number_of_retries(1)
                .set_max_delay(Duration::from_millis(500));
            let manager =
                ConnectionManager::new_lazy_with_config(client, config).map_err(|e| format!("REDIS_URL: {e}"))?;
            Ok(Conn::Single(manager))
        }
    }

    /// The primaries holding data: the server itself, or every cluster
    /// master, for operator commands that must visit each (SCAN, INFO).
    pub async fn primaries(&mut self, nodes: &Nodes) -> Result<Vec<ConnectionInfo>, String> {
        let Conn::Cluster(_) = self else { return Ok(vec![nodes.first().clone()]) };
        let listing: String = redis::cmd("CLUSTER").arg("NODES").query_async(self).await.map_err(|e| e.to_string())?;
        // Each line: id host:port@bus-port flags master ...; flags name the
        // role and any failure.
        let masters = listing
            .lines()
            .filter_map(|line| {
                let mut fields = line.split(' ');
                let address = fields.nth(1)?.split('@').next()?;
                let flags = fields.next()?;
                let master = flags.split(',').any(|f| f == "master") && !flags.contains("fail");
                master.then(|| nodes.at(address)).flatten()
            })
            .collect();
        Ok(masters)
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_nodes_are_a_cluster_and_redirects_keep_credentials() {
        let nodes = Nodes::parse("redis://:secret@10.0.0.1:7000, redis://:secret@10.0.0.2:7001").unwrap();
        assert!(nodes.is_cluster());
        let moved = nodes.at("10.0.0.9:7005").unwrap();
        assert_eq!(moved.addr(), &ConnectionAddr::Tcp("10.0.0.9".into(), 7005));
        assert_eq!(moved.redis_settings().password(), Some("secret"));
        assert!(!Nodes::parse("redis://127.0.0.1:6379").unwrap().is_cluster());
        assert!(nodes.at("no-port").is_none());
    }
}
