//! The tracking connection that keeps the in-process layer exact: Redis
//! pushes every tag key that changes, and the layer forgets that version
//! (see the parent module).

use std::sync::Arc;

use redis::{PushKind, Value};

use super::{HEARTBEAT, Local, RECONNECT_DELAY};
use crate::cache::conn::Nodes;
use crate::cache::keys::Keys;
use crate::cache::tags::Tag;

/// Why a tracking connection ended.
enum Lost {
    /// Another node holds the tags' slot (`host:port`).
    Moved(String),
    Failed(String),
}

impl From<redis::RedisError> for Lost {
    fn from(e: redis::RedisError) -> Self {
        match e.redirect_node() {
            Some((address, _)) => Lost::Moved(address.to_owned()),
            None => Lost::Failed(e.to_string()),
        }
    }
}

impl Local {
    /// Applies one push from the tracking connection.
    pub(super) fn on_push(&self, keys: &Keys, kind: &PushKind, data: &[Value]) -> bool {
        match kind {
            PushKind::Invalidate => {
                match data.first() {
                    Some(Value::Array(names)) => {
                        let mut tags = Vec::with_capacity(names.len());
                        for name in names {
                            let tag = match name {
                                Value::BulkString(raw) => std::str::from_utf8(raw).ok().and_then(|k| keys.tag_of(k)),
                                _ => None,
                            };
                            match tag {
                                Some(tag) => tags.push(tag),
                                // A tag name we cannot read back (hashed): be safe.
                                None => {
                                    self.forget_all();
                                    return true;
                                }
                            }
                        }
                        self.forget(&tags);
                    }
                    // FLUSHDB / FLUSHALL.
                    _ => self.forget_all(),
                }
                true
            }
            PushKind::Disconnection => false,
            _ => true,
        }
    }

    /// Keeps a tracking connection open for as long as the process runs.
    pub fn spawn_tracker(self: &Arc<Self>, nodes: Nodes, keys: Keys) -> tokio::task::JoinHandle<()> {
        let local = Arc::clone(self);
        tokio::spawn(async move {
            // Seeds in turn; a redirect names the node to try next.
            let mut seeds = nodes.all().iter().cycle();
            let mut next = None;
            loop {
                let node = next.take().unwrap_or_else(|| seeds.next().expect("at least one node").clone());
                let Err(lost) = local.track(node, &keys).await;
                match lost {
                    Lost::Moved(address) => next = nodes.at(&address),
                    Lost::Failed(e) => {
                        tracing::debug!(error = %e, "cache tracking connection lost; local hits paused");
                    }
                }
                local.set_live(false);
                tokio::time::sleep(RECONNECT_DELAY).await;
            }
        })
    }

    async fn track(&self, node: redis::ConnectionInfo, keys: &Keys) -> Result<std::convert::Infallible, Lost> {
        let (tx, mut pushes) = tokio::sync::mpsc::unbounded_channel();
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(HEARTBEAT))
            .set_response_timeout(Some(HEARTBEAT))
            .set_push_sender(tx);
        let client = redis::Client::open(node).map_err(Lost::from)?;
        let mut conn = client.get_multiplexed_async_connection_with_config(&config).await?;
        redis::cmd("CLIENT")
            .arg("TRACKING")
            .arg("ON")
            .arg("BCAST")
            .arg("PREFIX")
            .arg(keys.tag_prefix())
            .query_async::<()>(&mut conn)
            .await?;
        // Replies and pushes share the connection, in order: once this read
        // of a tag key is answered, every earlier push has arrived. A
        // redirect means another node holds the tags.
        let mut beat = redis::cmd("GET");
        beat.arg(keys.tag(&Tag::All));
        beat.query_async::<Option<String>>(&mut conn).await?;
        self.set_live(true);
        let mut tick = tokio::time::interval(HEARTBEAT);
        loop {
            tokio::select! {
                push = pushes.recv() => {
                    let Some(push) = push else { return Err(Lost::Failed("push channel closed".into())) };
                    if !self.on_push(keys, &push.kind, &push.data) {
                        return Err(Lost::Failed("disconnected".into()));
                    }
                }
                _ = tick.tick() => {
                    beat.query_async::<Option<String>>(&mut conn).await?;
                }
            }
        }
    }
}
