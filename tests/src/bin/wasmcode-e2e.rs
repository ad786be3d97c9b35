//! The `wasmcode` binary, built inside the test crate so integration tests can spawn it.

fn main() -> anyhow::Result<()> {
    wasmcode::cli::main()
}
