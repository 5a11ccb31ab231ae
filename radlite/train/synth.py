"""Training queries the project does not have to write by hand.

- `ontology_queries`: a disease's exact synonym is the query, "name. definition" the positive
  (Human Disease Ontology, CC0; `../shared/data/disease-ontology`). The positive never holds the
  synonym, so the model learns that "hemangiosarcoma" asks for angiosarcoma, not to match words.
- `finding_queries`: a passage's sentences with the words of its title (the condition's name)
  removed are the query, the rest of the passage the positive: the board- and lay-style question
  "which condition shows these findings?", made from any collection without labels.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Sequence

from radlite.errors import CorpusError
from radlite.train.adapt import MIN_WORDS, sentences
from radlite.train.data import Example, TrainingData, _cut, normalise
from radlite.types import Document

_WORD = re.compile(r"[\w-]+")
# words that carry no name: kept in a finding query even where the title uses them
_KEEP = {"of", "the", "a", "an", "and", "or", "in", "on", "with", "to", "for", "by", "at", "ct", "mri", "us", "x-ray"}


def ontology_queries(path: str | Path, sample: int | None = None, seed: int = 0) -> TrainingData:
    """Synonym -> "name. definition" pairs from a Disease/Symptom Ontology JSONL file."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"ontology file not found: {path}")
    examples, collection = [], []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            obj = json.loads(line)
            name, definition = obj.get("name"), obj.get("definition")
            if not name or not definition:
                continue
            text = f"{name}. {_clean_definition(definition)}"
            collection.append(text)
            synonyms = [s for s in obj.get("synonyms") or [] if normalise(s) not in normalise(text)]
            if synonyms:
                examples.append(Example(synonyms[0], [text], related={text}, source="ontology"))
    if not examples:
        raise CorpusError(f"{path}: no entry with a name, a definition and a synonym")
    if sample is not None and sample < len(examples):
        rng = random.Random(seed)
        examples = rng.sample(examples, sample)
        # negatives come from the sampled entries and as many other definitions
        kept = {e.positives[0] for e in examples}
        others = [t for t in collection if t not in kept]
        collection = sorted(kept) + rng.sample(others, min(len(others), sample))
    return TrainingData(examples, collection, f"ontology:{path.parent.name}")


def _clean_definition(text: str) -> str:
    return text.replace("_", " ").strip()


def finding_queries(
    documents: Sequence[Document], per_document: int = 2, min_words: int = 8, seed: int = 0, name: str = "findings"
) -> TrainingData:
    """Up to `per_document` queries per document: 1-2 of its sentences with its title's words removed."""
    rng = random.Random(seed)
    examples, collection = [], []
    for doc in documents:
        full = _cut(f"{doc.title}. {doc.text}" if doc.title else doc.text)
        collection.append(full)
        title_words = {w.lower() for w in _WORD.findall(doc.title or "")} - _KEEP
        sents = [s for s in sentences(doc.text) if len(s.split()) >= MIN_WORDS]
        rng.shuffle(sents)
        for i in range(min(per_document, len(sents) // 2)):
            picked = sents[2 * i : 2 * i + 2]  # two sentences: enough findings to point at one condition
            query = " ".join(w for w in " ".join(picked).split() if w.strip(".,;:()").lower() not in title_words)
            if len(query.split()) < min_words:
                continue
            rest = doc.text
            for s in picked:
                rest = rest.replace(s, " ")
            rest = " ".join(rest.split())
            if len(rest.split()) < min_words:
                continue
            body = _cut(f"{doc.title}. {rest}" if doc.title else rest)
            examples.append(Example(query, [body], category=doc.category, related={full, body}, source=name))
    if not examples:
        raise CorpusError(f"{name}: no finding queries could be made (documents need sentences of {MIN_WORDS}+ words)")
    return TrainingData(examples, collection, name)
