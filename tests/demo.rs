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
    // The Kerberos row logs in only on a machine with a ticket and a service keytab; otherwise it says how
    // to try it. Either way the demo succeeds.
    let kerberos: Vec<&str> = stdout
        .lines()
        .filter(|line| line.contains("Kerberos SSO"))
        .collect();
    assert_eq!(kerberos.len(), 1, "{stdout}");
    assert!(
        kerberos[0].contains("→ 200") || kerberos[0].contains("not "),
        "{stdout}"
    );
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|line| line.contains(" → ") && !line.contains("Kerberos SSO"))
        .collect();
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
