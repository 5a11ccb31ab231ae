"""Small immutable records exchanged between the stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Document:
    """One document of a collection, before it is split into passages."""

    id: str
    text: str
    title: str = ""
    category: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The document as a JSON object (documents.jsonl)."""
        return {
            "id": self.id,
            "title": self.title,
            "text": self.text,
            "category": self.category,
            "metadata": self.metadata,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "Document":
        """A document from its JSON object."""
        return cls(
            id=obj["id"],
            text=obj["text"],
            title=obj.get("title") or "",
            category=obj.get("category"),
            metadata=obj.get("metadata") or {},
        )


@dataclass(frozen=True)
class Span:
    """A passage: characters [start, end) of document `doc`."""

    doc: int
    start: int
    end: int
