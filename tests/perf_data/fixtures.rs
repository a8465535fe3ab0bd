//! Files made by the real `perf record` (tests/fixtures/README.md gives each command).
