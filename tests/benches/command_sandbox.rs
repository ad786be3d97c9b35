//! What confining a command costs: `true` run through the process capability's runner (`bash -c`,
//! process group, output pipes) unconfined, confined (Landlock ruleset built, capabilities
//! dropped, restricted in the child), and confined without network (plus a network namespace);
//! and building a command's confinement alone. The unconfined run is the baseline of the same run.

use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use wasmcode::runtime::run_user_command;
use wasmcode::sandbox::{Launch, Sandbox, SandboxSettings, Support};

const TIMEOUT: Duration = Duration::from_secs(10);

fn sandbox(project: &Path, network: bool) -> Sandbox {
    let settings = SandboxSettings {
        network,
        ..SandboxSettings::default()
    };
    wasmcode_tests::sandbox(project, settings)
}

fn bench(c: &mut Criterion) {
    if !Support::current().can_confine() {
        eprintln!("command_sandbox: this kernel has no Landlock; nothing to measure");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let project = dir.path().to_path_buf();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let open = sandbox(&project, true);
    let closed = sandbox(&project, false);
    let run = |launch: Launch| {
        let output = rt
            .block_on(run_user_command(project.clone(), "true", TIMEOUT, 1024, launch))
            .expect("true runs");
        assert_eq!(output.exit_code, Some(0));
    };

    let mut group = c.benchmark_group("command_sandbox");
    group.sample_size(100).measurement_time(Duration::from_secs(5));
    group.bench_function("true_unconfined", |b| {
        b.iter(|| {
            run(Launch::Unconfined {
                reason: "baseline".into(),
            })
        })
    });
    group.bench_function("true_confined", |b| {
        b.iter(|| run(open.launch(&[]).expect("launch")))
    });
    group.bench_function("true_confined_no_network", |b| {
        b.iter(|| run(closed.launch(&[]).expect("launch")))
    });
    group.bench_function("prepare_confinement", |b| {
        b.iter(|| match open.launch(&[]).expect("launch") {
            Launch::Confined(confinement) => confinement,
            Launch::Unconfined { .. } => unreachable!("confinable"),
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
