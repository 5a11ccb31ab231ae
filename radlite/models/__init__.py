"""Model resolution (hub id, local path or the built-in default) and thin encoder wrappers."""

from radlite.models.encoders import BiEncoder, ColbertEncoder, CrossEncoderReranker
from radlite.models.resolve import DEFAULT, ResolvedModel, resolve_model

__all__ = ["DEFAULT", "ResolvedModel", "resolve_model", "BiEncoder", "ColbertEncoder", "CrossEncoderReranker"]
