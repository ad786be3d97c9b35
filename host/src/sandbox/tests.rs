//! The sandbox on this machine's kernel: real children, confined, trying to leave the project.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;

/// A project, a home with a secret, and a directory beside the project.
struct Machine {
    _root: tempfile::TempDir,
    project: PathBuf,
    home: PathBuf,
    beside: PathBuf,
}

impl Machine {
    fn new() -> Self {
        let root = tempfile::tempdir().expect("succeeds");
        let project = root.path().join("project");
        let home = root.path().join("home");
        let beside = root.path().join("beside");
        for dir in [&project, &home, &beside] {
            std::fs::create_dir(dir).expect("succeeds");
        }
        std::fs::write(home.join("secret.txt"), "the secret").expect("succeeds");
        std::fs::write(beside.join("notes.txt"), "beside").expect("succeeds");
        Self {
            _root: root,
            project,
            home,
            beside,
        }
    }

    fn sandbox(&self, settings: SandboxSettings) -> Sandbox {
        Sandbox::new(
            settings,
            Support::current(),
            &self.project,
            Path::new("/"),
            &self.home,
            &[],
        )
        .expect("succeeds")
    }
}

/// Runs `script` with `sh -c` in `cwd`, confined as `launch` says: (exit code, stdout + stderr).
fn run(launch: Launch, cwd: &Path, script: &str) -> (i32, String) {
    let mut command = Command::new("sh");
    command.arg("-c").arg(script).current_dir(cwd);
    if let Launch::Confined(confinement) = launch {
        confinement.attach(&mut command);
    }
    let output = command.output().expect("spawn sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

fn confinable() -> bool {
    let support = Support::current();
    if !support.can_confine() {
        eprintln!("skipped: this kernel has no Landlock");
    }
    support.can_confine()
}

#[test]
fn a_confined_command_works_in_the_project_and_its_temp_dir_and_nowhere_else() {
    if !confinable() {
        return;
    }
    let machine = Machine::new();
    let sandbox = machine.sandbox(SandboxSettings::default());
    let script = r#"
        echo made > made.txt && cat made.txt
        echo scratch > "$TMPDIR/scratch" && cat "$TMPDIR/scratch"
        ls /usr/bin > /dev/null && echo system-readable
    "#;
    let (code, out) = run(sandbox.launch(&[]).expect("succeeds"), &machine.project, script);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out, "made\nscratch\nsystem-readable\n");

    let home = machine.home.display();
    let beside = machine.beside.display();
    for script in [
        format!("cat {home}/secret.txt"),
        format!("cat {beside}/notes.txt"),
        format!("echo x > {beside}/new.txt"),
        format!("ls {home}"),
        "echo x > /tmp/wasmcode-sandbox-escape".to_string(),
    ] {
        let (code, out) = run(sandbox.launch(&[]).expect("succeeds"), &machine.project, &script);
        assert_ne!(code, 0, "{script} succeeded: {out}");
        assert!(out.contains("Permission denied"), "{script}: {out}");
    }
    assert!(!machine.beside.join("new.txt").exists());
}

#[test]
fn children_of_a_confined_command_are_confined_too() {
    if !confinable() {
        return;
    }
    let machine = Machine::new();
    let sandbox = machine.sandbox(SandboxSettings::default());
    let script = format!("bash -c 'sh -c \"cat {}/secret.txt\"'", machine.home.display());
    let (code, out) = run(sandbox.launch(&[]).expect("succeeds"), &machine.project, &script);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("Permission denied"), "{out}");
}

#[test]
fn configured_paths_are_readable_or_writable_as_configured() {
    if !confinable() {
        return;
    }
    let machine = Machine::new();
    let mut settings = SandboxSettings::default();
    settings.allow.insert("~/secret.txt".into(), Access::Read);
    settings
        .allow
        .insert(machine.beside.display().to_string(), Access::Write);
    let sandbox = machine.sandbox(settings);
    let home = machine.home.display();
    let beside = machine.beside.display();

    let (code, out) = run(
        sandbox.launch(&[]).expect("succeeds"),
        &machine.project,
        &format!("cat {home}/secret.txt && echo y > {beside}/new.txt"),
    );
    assert_eq!((code, out.as_str()), (0, "the secret"), "{out}");
    assert_eq!(
        std::fs::read_to_string(machine.beside.join("new.txt")).expect("succeeds"),
        "y\n"
    );

    let (code, out) = run(
        sandbox.launch(&[]).expect("succeeds"),
        &machine.project,
        &format!("echo overwritten > {home}/secret.txt"),
    );
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("Permission denied"), "{out}");
    assert_eq!(
        std::fs::read_to_string(machine.home.join("secret.txt")).expect("succeeds"),
        "the secret"
    );

    // A directory configured `read` stays so even when the caller allows it.
    let mut settings = SandboxSettings::default();
    settings.allow.insert("~".into(), Access::Read);
    let sandbox = machine.sandbox(settings);
    let (code, out) = run(
        sandbox
            .launch(std::slice::from_ref(&machine.home))
            .expect("succeeds"),
        &machine.project,
        &format!("echo overwritten > {home}/secret.txt"),
    );
    assert_ne!(code, 0, "{out}");
}

#[test]
fn directories_the_caller_allows_are_writable_for_that_command_only() {
    if !confinable() {
        return;
    }
    let machine = Machine::new();
    let sandbox = machine.sandbox(SandboxSettings::default());
    let script = format!("echo z > {}/allowed.txt", machine.beside.display());
    let (code, out) = run(
        sandbox
            .launch(std::slice::from_ref(&machine.beside))
            .expect("succeeds"),
        &machine.project,
        &script,
    );
    assert_eq!(code, 0, "{out}");
    let (code, _) = run(sandbox.launch(&[]).expect("succeeds"), &machine.project, &script);
    assert_ne!(code, 0);
}

#[test]
fn the_server_process_is_out_of_reach() {
    if !confinable() {
        return;
    }
    let machine = Machine::new();
    let sandbox = machine.sandbox(SandboxSettings::default());
    // The parent (this test process) holds the server's secrets in its environment.
    let (code, out) = run(
        sandbox.launch(&[]).expect("succeeds"),
        &machine.project,
        "cat /proc/$PPID/environ",
    );
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("Permission denied"), "{out}");
    // Nor does a server run as root give its powers to the command.
    let (code, out) = run(
        sandbox.launch(&[]).expect("succeeds"),
        &machine.project,
        "grep -E '^Cap(Eff|Prm|Bnd)' /proc/self/status",
    );
    assert_eq!(code, 0, "{out}");
    for line in out.lines() {
        assert!(line.ends_with("0000000000000000"), "{out}");
    }
    if Support::current().landlock_abi.is_some_and(|abi| abi >= 6) {
        let (code, out) = run(
            sandbox.launch(&[]).expect("succeeds"),
            &machine.project,
            "kill -0 $PPID",
        );
        assert_ne!(code, 0, "a confined command could signal its parent: {out}");
    }
}

#[test]
fn without_network_a_loopback_server_cannot_be_reached() {
    if !confinable() {
        return;
    }
    let machine = Machine::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("succeeds");
    let port = listener.local_addr().expect("succeeds").port();
    let script = format!("exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected");
    let run_bash = |sandbox: &Sandbox| {
        let mut command = Command::new("bash");
        command.arg("-c").arg(&script).current_dir(&machine.project);
        if let Launch::Confined(confinement) = sandbox.launch(&[]).expect("succeeds") {
            confinement.attach(&mut command);
        }
        let output = command.output().expect("succeeds");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };

    let open = machine.sandbox(SandboxSettings::default());
    assert_eq!(run_bash(&open), (true, "connected\n".to_string()));

    let closed = machine.sandbox(SandboxSettings {
        network: false,
        ..SandboxSettings::default()
    });
    assert_eq!(closed.status().mode, SandboxMode::Confined);
    assert_eq!(run_bash(&closed), (false, String::new()));
}

#[test]
fn where_the_kernel_cannot_confine_the_settings_decide() {
    let machine = Machine::new();
    let new = |settings: SandboxSettings| {
        Sandbox::new(
            settings,
            Support::none(),
            &machine.project,
            Path::new("/"),
            &machine.home,
            &[],
        )
        .expect("succeeds")
    };

    let lenient = new(SandboxSettings::default());
    assert_eq!(lenient.status().mode, SandboxMode::Unconfined);
    assert!(lenient.status().reason.expect("succeeds").contains("Landlock"));
    assert!(matches!(lenient.launch(&[]), Ok(Launch::Unconfined { .. })));

    let strict = new(SandboxSettings {
        required: true,
        ..SandboxSettings::default()
    });
    assert_eq!(strict.status().mode, SandboxMode::Refused);
    let Err(error) = strict.launch(&[]) else {
        panic!("a required sandbox that cannot be had must refuse");
    };
    assert!(error.to_string().contains("wasmcode.sandbox.required"), "{error}");

    let off = new(SandboxSettings {
        enabled: false,
        required: true,
        ..SandboxSettings::default()
    });
    assert_eq!(off.status().mode, SandboxMode::Unconfined);
}

#[test]
fn the_status_lists_what_a_command_may_use() {
    let machine = Machine::new();
    let sandbox = machine.sandbox(SandboxSettings::default());
    let status = sandbox.status();
    let project = machine.project.display().to_string();
    assert!(status.read_write.contains(&project), "{status:?}");
    assert!(status.read_only.contains(&"/usr".to_string()));
    assert!(
        !status
            .read_only
            .iter()
            .any(|p| p == &machine.home.display().to_string())
    );
    assert!(status.network);
    assert!(!status.shell);
}

#[test]
fn configured_paths_resolve_against_home_and_project() {
    let (project, home) = (Path::new("/p"), Path::new("/h"));
    assert_eq!(settings::resolve("~", project, home), PathBuf::from("/h"));
    assert_eq!(
        settings::resolve("~/.cargo", project, home),
        PathBuf::from("/h/.cargo")
    );
    assert_eq!(
        settings::resolve("/opt/x", project, home),
        PathBuf::from("/opt/x")
    );
    assert_eq!(
        settings::resolve("vendor", project, home),
        PathBuf::from("/p/vendor")
    );
}

#[test]
fn a_linked_worktree_may_write_its_main_repository() {
    let root = tempfile::tempdir().expect("succeeds");
    let main_git = root.path().join("main/.git");
    std::fs::create_dir_all(main_git.join("worktrees/feature")).expect("succeeds");
    let worktree = root.path().join("feature");
    std::fs::create_dir_all(&worktree).expect("succeeds");
    std::fs::write(
        worktree.join(".git"),
        format!("gitdir: {}\n", main_git.join("worktrees/feature").display()),
    )
    .expect("succeeds");
    let sandbox = Sandbox::new(
        SandboxSettings::default(),
        Support::none(),
        &worktree,
        &worktree,
        root.path(),
        &[],
    )
    .expect("succeeds");
    assert!(
        sandbox
            .status()
            .read_write
            .contains(&main_git.display().to_string())
    );
}

#[test]
fn toolchains_in_the_home_and_on_the_path_run_but_are_not_written() {
    if !confinable() {
        return;
    }
    let machine = Machine::new();
    let cargo = machine.home.join(".cargo");
    std::fs::create_dir_all(cargo.join("bin")).expect("succeeds");
    std::fs::write(cargo.join("bin/tool"), "#!/bin/sh\necho tool ran\n").expect("succeeds");
    std::fs::write(cargo.join("credentials.toml"), "token = \"secret\"\n").expect("succeeds");
    let scripts = machine.beside.join("bin");
    std::fs::create_dir_all(&scripts).expect("succeeds");
    std::fs::write(scripts.join("helper"), "#!/bin/sh\necho helper ran\n").expect("succeeds");
    for script in [cargo.join("bin/tool"), scripts.join("helper")] {
        let mut permissions = std::fs::metadata(&script).expect("succeeds").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
        std::fs::set_permissions(&script, permissions).expect("succeeds");
    }
    // The home itself on the PATH opens nothing of it.
    let search_path = [scripts.clone(), machine.home.clone()];
    let sandbox = Sandbox::new(
        SandboxSettings::default(),
        Support::current(),
        &machine.project,
        Path::new("/"),
        &machine.home,
        &search_path,
    )
    .expect("succeeds");
    let launch = || sandbox.launch(&[]).expect("succeeds");

    let path = format!(
        "{}:{}:/usr/bin:/bin",
        cargo.join("bin").display(),
        scripts.display()
    );
    let (code, out) = run(
        launch(),
        &machine.project,
        &format!("PATH={path}; tool && helper"),
    );
    assert_eq!((code, out.as_str()), (0, "tool ran\nhelper ran\n"), "{out}");
    for script in [
        format!("cat {}/credentials.toml", cargo.display()),
        format!("echo x > {}/bin/planted", cargo.display()),
        format!("echo x > {}/planted", scripts.display()),
        format!("cat {}/secret.txt", machine.home.display()),
    ] {
        let (code, out) = run(launch(), &machine.project, &script);
        assert_ne!(code, 0, "{script}: {out}");
        assert!(out.contains("Permission denied"), "{script}: {out}");
    }
}
