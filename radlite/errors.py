"""Errors radlite raises on bad input. Each message says what was wrong and what to do."""


class RadliteError(Exception):
    """Base class: the CLI prints these as one line, without a traceback.

    `param` names the library parameter the error is about (e.g. "text_field"), so a front end can
    point at its own spelling of it (the CLI adds the option's flag)."""

    def __init__(self, message: str = "", *, param: str | None = None):
        super().__init__(message)
        self.param = param


class CorpusError(RadliteError):
    """A corpus file or folder that cannot be read as documents."""


class QueryError(RadliteError):
    """An empty, oversized or otherwise unusable query or search parameter."""


class IndexFormatError(RadliteError):
    """A missing, corrupted or incompatible index directory."""


class UnknownDocument(IndexFormatError, LookupError):
    """A document id that is not in the index (delete, explain)."""


class DocumentConflict(IndexFormatError):
    """A change the index refuses as it stands: an id already there, deleting its last document."""


class ModelError(RadliteError):
    """A model that cannot be found, or differs from the one that built the index."""


class BackendError(IndexFormatError):
    """The index's backend (a Qdrant server or folder) is unreachable or refused a request."""


class CapacityError(RadliteError):
    """A store that is full (the feedback log at its size limit): the server's state, not the request's."""
