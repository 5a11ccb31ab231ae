"""Query time: the engine (RadLITESearch), its stages (retrieve, pool, rerank, fuse), fusion
arithmetic, typed results and explanations."""
