//! The filesystem capability: `wasi:filesystem/types` and `wasi:filesystem/preopens`, with the
//! project root preopened as `.` read-only, read-write, or not at all, as the plugin's
//! [`FsAccess`] grant says.
//!
//! It owns the preopen and nothing else: path resolution, `..`, absolute paths and symlinks that
//! lead out are refused by wasmtime-wasi over cap-std, with `wasi:filesystem`'s own typed errors
//! (`not-permitted`, `read-only`), and a plugin without the grant finds no directory at all. Its
//! per-store state is that preopen, which lives in the store's WASI context (wasmtime-wasi keeps
//! it there). It must not open anything outside the project root, nor anything the grant does not
//! name.

use wasmtime::component::Linker;
use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::filesystem::{preopens, types};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use super::{Capability, SetupError, StoreFor};
use crate::runtime::grants::FsAccess;
use crate::runtime::store::StoreState;

pub struct Filesystem;

impl Capability for Filesystem {
    /// The preopen is kept by the store's WASI context.
    type State = ();

    fn link(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
        types::add_to_linker::<StoreState, WasiFilesystem>(linker, |state| state.filesystem())?;
        preopens::add_to_linker::<StoreState, WasiFilesystem>(linker, |state| state.filesystem())?;
        Ok(())
    }

    fn prepare(&self, store: &StoreFor<'_>, wasi: &mut WasiCtxBuilder) -> Result<(), SetupError> {
        let perms = match store.grants.filesystem {
            FsAccess::None => return Ok(()),
            FsAccess::Read => FsPerms::ReadOnly,
            FsAccess::ReadWrite => FsPerms::ReadWrite,
        };
        // Calls with no project (a provider, `describe`) get no directory whatever the grant.
        let Some(root) = store.project_root else {
            return Ok(());
        };
        // Filesystem calls are small and local: doing them inline is ~15x cheaper than a
        // spawn_blocking hop per syscall.
        wasi.allow_blocking_current_thread(true);
        wasi.preopened_dir(root, ".", perms).map_err(|e| {
            SetupError(format!(
                "cannot open the project directory {}: {e}",
                root.display()
            ))
        })?;
        Ok(())
    }
}
