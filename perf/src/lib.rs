//! Benchmark harness for ringwal (see perf/README.md).
