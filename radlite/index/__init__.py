"""The index: catalog (documents, passages, manifest), its on-disk generations, and the backend
that holds the signals. `SearchIndex` is in radlite.index.catalog."""

from radlite.index.catalog import SearchIndex
from radlite.index.manifest import manifest_in, read_manifest

__all__ = ["SearchIndex", "manifest_in", "read_manifest"]
