//! The `wasmcode` binary: see [`wasmcode::cli`].

fn main() -> anyhow::Result<()> {
    wasmcode::cli::main()
}
