//! Released files never change: every migration in supabase/migrations (a project that applied
//! one never sees an edit of it) and every install and upgrade script in sql/ (a database that
//! ran one never runs it again). tests/released.sha256 holds each one's checksum, added once
//! when the file is released; a change ships as a new migration or a new upgrade script.
//! Run with `cargo test -p credential-vault-tests --test released`.

use std::process::Command;

use credential_vault_tests::workspace_dir;

const MANIFEST: &str = "tests/released.sha256";

#[test]
fn every_released_file_is_listed_and_unchanged() {
    let root = workspace_dir();
    let manifest = std::fs::read_to_string(root.join(MANIFEST)).expect("read the manifest");
    let listed: Vec<&str> = manifest
        .lines()
        .map(|line| line.split_once("  ").expect("sha256sum's format").1)
        .collect();
    let mut released = Vec::new();
    for (folder, prefix) in [("supabase/migrations", ""), ("sql", "credential_vault--")] {
        for entry in std::fs::read_dir(root.join(folder)).expect("read the folder") {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name.starts_with(prefix) && name.ends_with(".sql") {
                released.push(format!("{folder}/{name}"));
            }
        }
    }
    released.sort();
    let unlisted: Vec<&String> = released
        .iter()
        .filter(|file| !listed.contains(&file.as_str()))
        .collect();
    assert!(
        unlisted.is_empty(),
        "add each new release to {MANIFEST} (sha256sum FILE >> {MANIFEST}): {unlisted:?}"
    );
    let check = Command::new("sha256sum")
        .args(["--check", "--strict", "--quiet", MANIFEST])
        .current_dir(&root)
        .output()
        .expect("run sha256sum");
    assert!(
        check.status.success(),
        "a released file changed: ship a new migration or upgrade script instead\n{}",
        String::from_utf8_lossy(&check.stdout)
    );
}
