"""radlite: multi-stage retrieval for radiology knowledge.

corpus -> index -> retrieve -> rerank -> fuse -> results. Heavy libraries (torch, PyLate,
sentence-transformers) are imported only when a model is loaded.
"""

__version__ = "0.1.0"

__all__ = ["RadLITESearch", "__version__"]


def __getattr__(name: str):
    if name == "RadLITESearch":
        from radlite.search.engine import RadLITESearch

        return RadLITESearch
    raise AttributeError(name)
