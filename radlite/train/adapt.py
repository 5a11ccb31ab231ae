"""Unsupervised domain adaptation: training pairs made from the collection itself.

For a user with documents but no judgments. Two kinds of pseudo-query, both standard:
- title -> body: a document's title is the query for its text (the title is not in the positive);
- a sentence -> its passage (the inverse cloze task): a sentence drawn from a passage is the query,
  the passage without that sentence the positive, so the model learns what surrounds a finding,
  not to match the same words.
The examples then go through the same BM25 hard-negative mining and trainers as `radlite train`.
"""

from __future__ import annotations

import random
import re

from radlite.config import ChunkingConfig
from radlite.corpus import load_corpus, split_passages
from radlite.errors import CorpusError
from radlite.signals import CROSSENCODER
from radlite.train.data import DOC_WORDS, Example, TrainingData, _cut

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(])")
MIN_WORDS, MAX_WORDS = 5, 40


def sentences(text: str) -> list[str]:
    """`text` split into sentences (at ., ! or ? before a capital or a digit)."""
    return [s.strip() for s in _SENTENCE.split(text) if s.strip()]


def pseudo_queries(
    corpus_path,
    sentences_per_passage: int = 1,
    titles: bool = True,
    seed: int = 0,
    chunking: ChunkingConfig | None = None,
    max_examples: int | None = None,
) -> TrainingData:
    """Training pairs made from a collection without judgments: each title -> its document's text, and sentences
    -> their passage without them (the inverse cloze task).

    Raises:
        CorpusError: the corpus cannot be read or yields no pairs."""
    docs = load_corpus(corpus_path)
    chunking = chunking or ChunkingConfig()
    rng = random.Random(seed)
    examples: list[Example] = []
    collection: list[str] = []
    spans = split_passages(docs, chunking)
    chunks_of: dict[int, set[str]] = {}
    for span in spans:
        doc = docs[span.doc]
        passage = doc.text[span.start : span.end]
        chunks_of.setdefault(span.doc, set()).add(_cut(f"{doc.title}. {passage}" if doc.title else passage))
    for span in spans:
        doc = docs[span.doc]
        passage = doc.text[span.start : span.end]
        full = f"{doc.title}. {passage}" if doc.title else passage
        collection.append(_cut(full))
        if titles and doc.title and span.start == 0 and len(doc.title.split()) >= 2:
            # every passage of the document answers its title: none of them may be a negative
            examples.append(
                Example(
                    doc.title, [_cut(passage)], category=doc.category, related=set(chunks_of[span.doc]), source="title"
                )
            )
        candidates = [s for s in sentences(passage) if MIN_WORDS <= len(s.split()) <= MAX_WORDS]
        for s in rng.sample(candidates, min(sentences_per_passage, len(candidates))):
            rest = passage.replace(s, " ").strip()
            if len(rest.split()) < MIN_WORDS:
                continue
            body = f"{doc.title}. {rest}" if doc.title else rest
            # overlapping passages of the same document that hold the sentence are relevant too
            related = {_cut(full)} | {c for c in chunks_of[span.doc] if s in c}
            examples.append(
                Example(s, [_cut(body, DOC_WORDS)], category=doc.category, related=related, source="sentence")
            )
    if not examples:
        raise CorpusError(
            f"{corpus_path}: no pseudo-queries could be made (documents need titles or sentences of "
            f"{MIN_WORDS}-{MAX_WORDS} words)"
        )
    if max_examples is not None and len(examples) > max_examples:
        examples = rng.sample(examples, max_examples)
    return TrainingData(examples, list(dict.fromkeys(collection)), f"adapt:{corpus_path}")


def adapt_settings(kind: str, base: str, num_negatives: int, max_length: int) -> dict:
    """How `radlite adapt` trains a model kind: the retrievers learn from the pseudo-queries with BM25
    hard negatives (binary loss); the cross-encoder starts from the shipped one (when `base` is
    "default") at its trained pair length and learns listwise against the collection's own fused
    first stage (loss "distill", at least 6 negatives). Returns TrainConfig fields."""
    from radlite.train.config import ALIASES

    kind = ALIASES.get(kind, kind)
    if kind != CROSSENCODER:
        return {"kind": kind, "base": base, "loss": "binary", "num_negatives": num_negatives, "max_length": max_length}
    if base == "default":
        from pathlib import Path

        from radlite.models.encoders import trained_max_length
        from radlite.models.resolve import resolve_model

        base = str(resolve_model(CROSSENCODER, "default").path)
        max_length = trained_max_length(Path(base)) or max_length
    return {
        "kind": kind,
        "base": base,
        "loss": "distill",
        "num_negatives": max(num_negatives, 6),
        "max_length": max_length,
    }
