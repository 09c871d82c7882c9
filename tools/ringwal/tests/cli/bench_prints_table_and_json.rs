//! bench, cut down to a few records per cell: the table has every workload, the JSON
//! file the same rows, and the benchmark directory is removed unless --keep.

use predicates::prelude::*;

use crate::common::*;

const QUICK: [&str; 12] = [
    "bench",
    "--records",
    "40",
    "--rounds",
    "1",
    "--threads",
    "2",
    "--batch",
    "10",
    "--recovery-mb",
    "1",
    "--driver=portable",
];

#[test]
fn quick_run_prints_every_workload_and_cleans_up() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("bench-data");
    let json = tmp.path().join("out.json");
    let assert = ringwal()
        .args(QUICK)
        .arg("--dir")
        .arg(&data)
        .arg("--json")
        .arg(&json)
        // Segments grow instead of being pre-zeroed: keeps the test quick.
        .env("RINGWAL_PREALLOC", "grow")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("records/s"))
        .stdout(predicate::str::contains("p99.9 us"));
    let out = stdout_of(&assert);
    for workload in [
        "serial durable",
        "concurrent durable",
        "bulk batches",
        "recovery scan",
    ] {
        assert!(
            out.lines()
                .any(|l| l.starts_with(workload) && l.contains("ringwal portable")),
            "{workload} missing:\n{out}"
        );
    }
    assert!(out.contains("raw pwrite+fdatasync"));
    assert!(!data.exists(), "bench directory left behind");

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let rows = report["results"].as_array().unwrap();
    assert_eq!(rows.len(), 7, "{report}");
    let serial = rows
        .iter()
        .find(|r| r["workload"] == "serial durable" && r["system"] == "ringwal portable")
        .unwrap();
    assert!(serial["records_per_s"].as_f64().unwrap() > 0.0);
    assert!(serial["ratio_to_raw"].as_f64().unwrap() > 0.0);
}

#[test]
fn keep_leaves_the_directory_and_bad_flags_exit_3() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("kept");
    ringwal()
        .args(QUICK)
        .args(["--no-raw", "--keep", "--durability", "flush"])
        .arg("--dir")
        .arg(&data)
        .env("RINGWAL_PREALLOC", "grow")
        .assert()
        .code(0);
    assert!(data.is_dir());

    ringwal()
        .args(["bench", "--durability", "sometimes"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("periodic:<ms>"));
}
