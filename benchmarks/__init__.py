"""Benchmarks: one script per performance goal; each prints its figures and ratios."""
