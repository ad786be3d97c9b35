//! What this machine's kernel offers for confinement, probed once.

use std::sync::OnceLock;

/// How a command is cut off the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkCut {
    /// A new network namespace (the server runs as root).
    Namespace,
    /// A new user namespace mapping only the server's user, and a network namespace in it.
    UserNamespace,
    /// Neither namespace can be made here.
    Unavailable,
}

/// The kernel's confinement features.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Support {
    /// The Landlock ABI version, when the kernel has Landlock and it is enabled.
    pub landlock_abi: Option<u8>,
    pub network: NetworkCut,
}

/// Landlock's network rules (TCP bind and connect) arrived with ABI 4.
const LANDLOCK_NETWORK_ABI: u8 = 4;

impl Support {
    /// The running kernel's, probed on first use.
    pub fn current() -> Self {
        static CURRENT: OnceLock<Support> = OnceLock::new();
        *CURRENT.get_or_init(Self::probe)
    }

    /// A machine with nothing to confine with.
    pub fn none() -> Self {
        Self {
            landlock_abi: None,
            network: NetworkCut::Unavailable,
        }
    }

    #[cfg(target_os = "linux")]
    fn probe() -> Self {
        let support = Self {
            landlock_abi: super::landlock::abi(),
            network: super::network::probe(),
        };
        tracing::debug!(?support, "sandbox support");
        support
    }

    #[cfg(not(target_os = "linux"))]
    fn probe() -> Self {
        Self::none()
    }

    pub fn can_confine(&self) -> bool {
        self.landlock_abi.is_some()
    }

    pub fn can_cut_network(&self) -> bool {
        self.network != NetworkCut::Unavailable
            || self.landlock_abi.is_some_and(|abi| abi >= LANDLOCK_NETWORK_ABI)
    }

    /// What is missing to confine, in words.
    pub fn missing(&self) -> String {
        if cfg!(target_os = "linux") {
            "this kernel has no Landlock (Linux 5.13 or later with `landlock` in the `lsm=` boot \
             parameter is needed)"
                .into()
        } else {
            "commands can only be confined on Linux (Landlock)".into()
        }
    }
}
