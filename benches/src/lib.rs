//! Benchmark harnesses for wirepool (see `docs/benchmarks.md`).
