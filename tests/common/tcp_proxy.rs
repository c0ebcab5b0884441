//! A loopback TCP forwarder that can make a server unreachable: `cut` closes its listening
//! socket and every open connection (clients get "connection refused"), `restore` listens on
//! the same port again.

use parking_lot::Mutex;
use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct TcpProxy {
    pub addr: SocketAddr,
    backend: SocketAddr,
    /// The accept loop; it owns the connection tasks, so aborting it drops them all.
    task: Mutex<Option<JoinHandle<()>>>,
}

impl TcpProxy {
    /// Forwards a fresh loopback port to `backend`.
    pub async fn start(backend: SocketAddr) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let proxy = TcpProxy {
            addr,
            backend,
            task: Mutex::new(None),
        };
        *proxy.task.lock() = Some(tokio::spawn(serve(listener, backend)));
        proxy
    }

    /// Stops listening and drops every connection.
    pub async fn cut(&self) {
        if let Some(task) = self.task.lock().take() {
            task.abort();
        }
        // Let the aborted task drop its sockets.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    /// Listens again on the same port.
    pub async fn restore(&self) {
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => break listener,
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        };
        *self.task.lock() = Some(tokio::spawn(serve(listener, self.backend)));
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        if let Some(task) = self.task.get_mut().take() {
            task.abort();
        }
    }
}

async fn serve(listener: TcpListener, backend: SocketAddr) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((mut client, _)) = accepted else { continue };
                connections.spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(backend).await {
                        // Without this, Nagle and delayed ACKs add ~40ms to each exchange.
                        let _ = client.set_nodelay(true);
                        let _ = server.set_nodelay(true);
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}
