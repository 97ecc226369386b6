"""Benchmarks of arc-trm: task lists and the scripts that measure the solver on them."""
