//! `hale app lint` on hostile files ends with status 1 and the problem named, never an abort.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

#[path = "../../hale-forms-io/tests/hostile/mod.rs"]
mod hostile;

fn lint(name: &str, bytes: &[u8]) -> (Option<i32>, String) {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_hale"))
        .args(["app", "lint"])
        .arg(&path)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn hostile_workbooks_fail_lint_cleanly() {
    let files = [
        (hostile::sparse_corners(), "too_many_columns"),
        (hostile::zip_bomb(64 * 1024 * 1024), "workbook_too_large"),
        (
            hostile::shared_strings(1_000_000),
            "too_many_shared_strings",
        ),
        (hostile::large_cell(100 * 1024 * 1024), "workbook_too_large"),
    ];
    for (bytes, code) in files {
        let (status, stderr) = lint("survey.xlsx", &bytes);
        assert_eq!(status, Some(1), "{stderr}");
        assert!(stderr.contains(code), "{stderr}");
    }
}

#[test]
fn a_csv_with_a_ten_megabyte_line_fails_lint_cleanly() {
    let (status, stderr) = lint(
        "survey.csv",
        hostile::csv_long_line(10 * 1024 * 1024).as_bytes(),
    );
    assert_eq!(status, Some(1), "{stderr}");
    assert!(stderr.contains("text_too_large"), "{stderr}");
}
