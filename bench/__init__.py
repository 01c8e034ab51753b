"""Benchmarks: training and encoding throughput against sentence-transformers, index search, STS7 evaluation."""
