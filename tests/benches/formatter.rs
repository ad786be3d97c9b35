//! Formatting through a formatter component against the same crate called natively (issue 12:
//! target 2x or less): the first-party `json` component (dprint-plugin-json compiled to
//! wasm32-wasip2, a fresh instance per call, the text copied in and out) and
//! `dprint_plugin_json::format_text` in this process, on the same JSON of about 1, 10 and 100 KB.
//! Both must produce the same text.

use std::path::Path;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use dprint_plugin_json::configuration::ConfigurationBuilder;
use wasmcode::plugins::first_party;
use wasmcode::runtime::{Limits, Runtime, RuntimeOptions};

/// Unformatted JSON of about `bytes` bytes: records with odd spacing and line breaks.
fn document(bytes: usize) -> String {
    let mut text = String::from("[\n");
    let mut i = 0;
    while text.len() < bytes {
        text.push_str(&format!(
            "{{\"id\":{i},   \"name\":\"item {i}\",\"tags\":[\"a\",\"b\" ,\"c\"],\n\"nested\":{{\"ok\":true,\"n\":{}}}}},\n",
            i * 7
        ));
        i += 1;
    }
    text.push_str("{}\n]\n");
    text
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let cache = tempfile::tempdir().expect("temp dir");
    let runtime = Runtime::new(&RuntimeOptions {
        cache_dir: Some(cache.path().to_path_buf()),
        ..Default::default()
    })
    .expect("runtime");
    let embedded = first_party::FIRST_PARTY_FORMATTERS
        .iter()
        .find(|e| e.name == "json")
        .expect("the first-party json formatter");
    let plugin = rt
        .block_on(runtime.load_formatter_plugin(
            embedded.name,
            embedded.bytes,
            &embedded.sha256,
            Limits::default(),
        ))
        .expect("the json formatter loads");
    let config = ConfigurationBuilder::new().build();
    let native = |text: &str| {
        dprint_plugin_json::format_text(Path::new("data.json"), text, &config)
            .expect("formats")
            .unwrap_or_else(|| text.to_string())
    };

    let mut group = c.benchmark_group("formatter");
    group.measurement_time(Duration::from_secs(5));
    for kb in [1, 10, 100] {
        let text = document(kb * 1024);
        let component = rt
            .block_on(runtime.format(&plugin, "data.json", &text))
            .expect("the component formats");
        assert_eq!(component, native(&text), "component and native agree");
        group.bench_with_input(
            BenchmarkId::new("native_json", format!("{kb}KB")),
            &text,
            |b, text| b.iter(|| native(text)),
        );
        group.bench_with_input(
            BenchmarkId::new("component_json", format!("{kb}KB")),
            &text,
            |b, text| {
                b.iter(|| {
                    rt.block_on(runtime.format(&plugin, "data.json", text))
                        .expect("formats")
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
