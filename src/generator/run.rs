//! `promshard gen`: one target per listen address until SIGTERM or SIGINT.

use super::{GenError, GenOptions, Generator, serve_with_shutdown};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Log lines' source: the module path would read `promshard::generator::run`.
const LOG_TARGET: &str = "promshard::gen";

/// After a signal, how long requests in flight (a long `--delay`) may keep the process up.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The listen address of each target: `addresses` as given, or with `targets` set, that many
/// consecutive ports from the one address given (`HOST:PORT`); `:PORT` means every interface.
pub fn listen_addresses(
    addresses: &[String],
    targets: Option<usize>,
) -> Result<Vec<String>, GenError> {
    let invalid = |flag, message: String| Err(GenError::InvalidOption { flag, message });
    let Some(targets) = targets else {
        return Ok(addresses.iter().map(|a| with_host(a)).collect());
    };
    if targets == 0 {
        return invalid("--targets", "must be at least 1".to_string());
    }
    let [address] = addresses else {
        return invalid(
            "--targets",
            format!(
                "needs exactly one --web.listen-address (HOST:PORT, the first port), got {}",
                addresses.len()
            ),
        );
    };
    let parsed = address
        .rsplit_once(':')
        .and_then(|(host, port)| Some((host, port.parse::<u16>().ok()?)));
    let Some((host, first_port)) = parsed else {
        return invalid(
            "--web.listen-address",
            format!("{address:?} is not HOST:PORT"),
        );
    };
    if first_port == 0 && targets > 1 {
        return invalid(
            "--web.listen-address",
            "port 0 cannot start a range of consecutive ports".to_string(),
        );
    }
    let last = first_port as usize + targets - 1;
    if last > u16::MAX as usize {
        return invalid(
            "--targets",
            format!("{targets} ports from {first_port} go past 65535"),
        );
    }
    Ok((0..targets)
        .map(|i| with_host(&format!("{host}:{}", first_port as usize + i)))
        .collect())
}

/// `:PORT` (Go's listen syntax, which exporters' flags accept) as `0.0.0.0:PORT`.
fn with_host(address: &str) -> String {
    match address.strip_prefix(':') {
        Some(_) => format!("0.0.0.0{address}"),
        None => address.to_string(),
    }
}

/// Binds every address (target number = position), serves until SIGTERM or SIGINT, then
/// returns `Ok`. A bind failure or a server error ends the run with that error.
pub async fn run(options: GenOptions, addresses: Vec<String>) -> Result<(), GenError> {
    options.validate()?;
    let mut targets = Vec::with_capacity(addresses.len());
    for (index, address) in addresses.iter().enumerate() {
        let listener = TcpListener::bind(address)
            .await
            .map_err(|source| GenError::Bind {
                address: address.clone(),
                source,
            })?;
        let generator = Arc::new(Generator::new(&options, index)?);
        let local = listener
            .local_addr()
            .map_or_else(|_| address.clone(), |a| a.to_string());
        tracing::info!(
            target: LOG_TARGET,
            target_index = index,
            address = %local,
            series = generator.series_count(),
            shape = %options.shape,
            "serving generated metrics"
        );
        targets.push((local, listener, generator));
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut servers = JoinSet::new();
    for (address, listener, generator) in targets {
        let mut stop = stop_rx.clone();
        servers.spawn(async move {
            let stopped = async move {
                let _ = stop.wait_for(|stopped| *stopped).await;
            };
            serve_with_shutdown(listener, generator, stopped)
                .await
                .map_err(|source| GenError::Serve { address, source })
        });
    }
    tokio::select! {
        () = shutdown_signal() => {}
        Some(ended) = servers.join_next() => {
            // Before a signal, a server only returns on an error.
            match ended {
                Ok(Err(e)) => return Err(e),
                Ok(Ok(())) => tracing::error!(target: LOG_TARGET, "a server stopped by itself"),
                Err(e) => tracing::error!(target: LOG_TARGET, error = %e, "a server task failed"),
            }
        }
    }
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while servers.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(target: LOG_TARGET, "requests still in flight after {SHUTDOWN_GRACE:?}; exiting");
    }
    tracing::info!(target: LOG_TARGET, "promshard gen stopped");
    Ok(())
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!(target: LOG_TARGET, error = %e, "cannot listen for SIGTERM; stop with SIGINT");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    tracing::info!(target: LOG_TARGET, "received shutdown signal");
}
