"""Benchmark harness: load, floors, idle sockets and channel layers (docs/benchmarks.md)."""
