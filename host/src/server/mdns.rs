//! `serve --mdns`: advertises the server as an `_http._tcp` service, named `opencode-<port>` on
//! the `--mdns-domain` host (default `opencode.local`), as OpenCode does, so clients on the
//! network can find it. Withdrawn when dropped.

use std::net::SocketAddr;

use mdns_sd::{IfKind, ServiceDaemon, ServiceInfo};

pub const SERVICE_TYPE: &str = "_http._tcp.local.";

pub struct Advertisement {
    daemon: ServiceDaemon,
    fullname: String,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot advertise over mDNS: {0}")]
pub struct MdnsError(String);

/// Starts advertising `addr` under `domain` (e.g. `opencode.local`), on the interfaces the
/// server listens on only: loopback for a loopback bind, that address's interface for a specific
/// address, every interface for `0.0.0.0`/`::`.
pub fn advertise(domain: &str, addr: SocketAddr) -> Result<Advertisement, MdnsError> {
    let daemon = ServiceDaemon::new().map_err(|e| MdnsError(e.to_string()))?;
    let ip = addr.ip();
    if !ip.is_unspecified() {
        let only = if ip.is_loopback() {
            if ip.is_ipv4() {
                IfKind::LoopbackV4
            } else {
                IfKind::LoopbackV6
            }
        } else {
            IfKind::Addr(ip)
        };
        daemon
            .disable_interface(IfKind::All)
            .map_err(|e| MdnsError(e.to_string()))?;
        daemon
            .enable_interface(only)
            .map_err(|e| MdnsError(e.to_string()))?;
    }
    let host = format!("{}.", domain.trim_end_matches('.'));
    let instance = format!("opencode-{}", addr.port());
    let properties = [("path", "/")];
    let info = if addr.ip().is_unspecified() {
        ServiceInfo::new(SERVICE_TYPE, &instance, &host, "", addr.port(), &properties[..])
            .map(ServiceInfo::enable_addr_auto)
    } else {
        ServiceInfo::new(
            SERVICE_TYPE,
            &instance,
            &host,
            addr.ip(),
            addr.port(),
            &properties[..],
        )
    }
    .map_err(|e| MdnsError(e.to_string()))?;
    let fullname = info.get_fullname().to_string();
    daemon.register(info).map_err(|e| MdnsError(e.to_string()))?;
    if ip.is_loopback() {
        tracing::warn!(
            "mDNS advertises {addr} on loopback only: listen on another address (with credentials) to be \
             found on the network"
        );
    }
    tracing::info!(service = %fullname, "advertised over mDNS");
    Ok(Advertisement { daemon, fullname })
}

impl Drop for Advertisement {
    fn drop(&mut self) {
        // Best effort: the process is going away either way.
        let _ = self.daemon.unregister(&self.fullname);
        let _ = self.daemon.shutdown();
    }
}
