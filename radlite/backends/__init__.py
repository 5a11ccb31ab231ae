"""Where an index's first-stage signals live and are searched: see radlite.backends.base for the
contract and radlite.backends.registry for the kinds radlite knows (local, qdrant, shards)."""
