//! Host-side bindings of the `wasmcode:plugin@0.1.0` worlds.
//!
//! Every import is async so a call can suspend (a permission ask waits for the user, `process.run`
//! waits for the child) without blocking a thread, and every export is async so a call can be
//! cancelled by dropping its future.

pub mod tool {
    wasmtime::component::bindgen!({
        world: "tool-plugin",
        path: "../wit",
        imports: { default: async },
        exports: { default: async },
        with: {
            "wasi": wasmtime_wasi::p2::bindings,
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        },
    });
}

pub mod formatter {
    wasmtime::component::bindgen!({
        world: "formatter-plugin",
        path: "../wit",
        exports: { default: async },
    });
}

pub mod provider {
    wasmtime::component::bindgen!({
        world: "provider-plugin",
        path: "../wit",
        imports: { default: async },
        exports: { default: async },
        with: {
            "wasi": wasmtime_wasi::p2::bindings,
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            // The same `host` interface as tools see: one set of types, one implementation shape.
            "wasmcode:plugin/host": super::tool::wasmcode::plugin::host,
            "wasmcode:plugin/types": super::tool::wasmcode::plugin::types,
        },
    });
}
