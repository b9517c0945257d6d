"""Evaluation runners and the benchmarks that back the performance claims."""
