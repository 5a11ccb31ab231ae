"""Evaluation: datasets, per-query metrics with confidence intervals, the configuration harness,
fusion tuning, TREC runs and plots."""
