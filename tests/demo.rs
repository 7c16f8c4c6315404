//! The README's main command, `cargo run --example demo`: it logs into every built-in emulator by every
//! method and every call answers 200.

mod support;

#[test]
fn demo_logs_into_every_emulator_and_every_call_answers_200() {
    let output = std::process::Command::new(support::example_binary("demo"))
        .output()
        .expect("run the demo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows: Vec<&str> = stdout.lines().filter(|line| line.contains(" → ")).collect();
    assert_eq!(rows.len(), 9, "{stdout}");
    assert!(rows.iter().all(|row| row.contains("→ 200")), "{stdout}");
    for backend in [
        "UiPath Orchestrator",
        "Automation Anywhere",
        "Pyramid Analytics",
    ] {
        assert_eq!(
            rows.iter().filter(|row| row.contains(backend)).count(),
            3,
            "{backend}: {stdout}"
        );
    }
}
