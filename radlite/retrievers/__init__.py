"""First-stage retrievers: one scoring structure per signal (BM25, dense bi-encoder, ColBERT
late interaction). Each builds from encoded passages, saves to and loads from one folder, and
scores or searches; none knows where it is stored (that is radlite.backends)."""
