"""Training data: queries with positive texts, from a BEIR folder, a JSONL file or the bundled benchmark.

Every source becomes a list of `Example`s plus the collection the hard negatives are mined from:

- a BEIR folder with `qrels/train.tsv` (the collection is its corpus; positives are the judged
  documents of the query's highest grade, and every document judged relevant at any grade is
  kept out of its negatives);
- a JSONL file of objects with `query` (or `question`) and `positive` (or `answer`): the text, or
  a document id when `--corpus` gives a collection; optional `negatives` (texts or ids) and
  `category`. Without a corpus the collection is every positive and negative text in the file;
- `radbench9`: the bundled benchmark's train (or dev) split; its collection is the passages of that
  split's conditions only, so no passage of a test condition is seen in training.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from radlite.corpus import iter_jsonl, load_corpus
from radlite.errors import CorpusError
from radlite.eval.datasets import BUNDLED, load_beir, load_radbench9, split_of
from radlite.types import Document

DOC_WORDS = 200  # longer documents are cut to their first words: the encoders truncate at 256 tokens anyway


@dataclass
class Example:
    query: str
    positives: list[str]  # texts; the first is the one trained on
    negatives: list[str] = field(default_factory=list)  # given or mined
    category: str | None = None
    related: set[str] = field(default_factory=set)  # texts judged relevant at any grade: never negatives
    source: str = ""
    easy: list[str] = field(default_factory=list)  # random negatives (cross-encoder: it has no in-batch ones)
    teacher: dict[str, float] = field(default_factory=dict)  # text -> the first stage's score (radlite.train.teacher)


@dataclass
class TrainingData:
    examples: list[Example]
    collection: list[str]  # texts hard negatives are mined from
    name: str


def document_text(doc: Document, max_words: int = DOC_WORDS) -> str:
    """What the models see of a document in training: title, then the start of the text (as indexed)."""
    words = doc.text.split()
    body = " ".join(words[:max_words]) if len(words) > max_words else doc.text
    return f"{doc.title}. {body}" if doc.title else body


def load_training_data(
    source: str | Path, split: str = "train", corpus: str | Path | None = None, sample: int | None = None, seed: int = 0
) -> TrainingData:
    """Read one source of training data; `sample` keeps at most that many queries (seeded)."""
    if str(source) in BUNDLED:
        data = _from_radbench9(split)
    else:
        path = Path(source)
        if path.is_dir():
            data = _from_beir(path, split)
        elif path.is_file():
            data = _from_jsonl(path, corpus)
        else:
            raise CorpusError(
                f"training data not found: {source} (give a BEIR folder with qrels/{split}.tsv, "
                f"a JSONL file of query/positive pairs, or one of: {', '.join(BUNDLED)})"
            )
    if not data.examples:
        raise CorpusError(f"{source}: no training examples (no query with a relevant document)")
    if sample is not None and sample < len(data.examples):
        data.examples = random.Random(seed).sample(data.examples, sample)
    return data


def _from_radbench9(split: str) -> TrainingData:
    ds = load_radbench9(split)
    keep = [d for d in ds.corpus if split_of(str(d.metadata.get("condition", ""))) == split]
    return _from_judgments(ds, keep, f"radbench9:{split}")


def _from_beir(folder: Path, split: str) -> TrainingData:
    if not (folder / "qrels" / f"{split}.tsv").is_file():
        raise CorpusError(f"{folder}: a BEIR training folder needs qrels/{split}.tsv")
    ds = load_beir(folder, split)
    return _from_judgments(ds, ds.corpus, f"{folder.name}:{split}")


def _from_judgments(ds, collection_docs: list[Document], name: str) -> TrainingData:
    text_of = {d.id: document_text(d) for d in ds.corpus}
    examples = []
    for q in ds.queries:
        judged = {d: g for d, g in ds.qrels.get(q.id, {}).items() if g > 0 and d in text_of}
        if not judged:
            continue
        top = max(judged.values())
        positives = [text_of[d] for d, g in sorted(judged.items()) if g == top]
        examples.append(
            Example(q.text, positives, category=q.category, related={text_of[d] for d in judged}, source=name)
        )
    return TrainingData(examples, [document_text(d) for d in collection_docs], name)


def _from_jsonl(path: Path, corpus: str | Path | None) -> TrainingData:
    docs = {d.id: document_text(d) for d in load_corpus(corpus)} if corpus else None
    examples, collection = [], []

    def text(value, lineno, what):
        if not isinstance(value, str) or not value.strip():
            raise CorpusError(f"{path}: line {lineno}: {what} must be a non-empty string")
        if docs is not None:
            if value not in docs:
                raise CorpusError(f"{path}: line {lineno}: {what} {value!r} is not a document id of {corpus}")
            return docs[value]
        return value

    for lineno, obj in iter_jsonl(path):
        if not isinstance(obj, dict):
            raise CorpusError(f"{path}: line {lineno} is not a JSON object")
        query = obj.get("query", obj.get("question"))
        positive = obj.get("positive", obj.get("answer"))
        if query is None or positive is None:
            raise CorpusError(f"{path}: line {lineno} needs 'query' and 'positive' (or 'question' and 'answer')")
        if not isinstance(query, str) or not query.strip():
            raise CorpusError(f"{path}: line {lineno}: query must be a non-empty string")
        if isinstance(positive, list) and not positive:
            raise CorpusError(f"{path}: line {lineno}: positive must not be empty")
        positives = [text(p, lineno, "positive") for p in (positive if isinstance(positive, list) else [positive])]
        if docs is None:
            positives = [_cut(p) for p in positives]
        negatives = obj.get("negatives") or []
        if not isinstance(negatives, list):
            raise CorpusError(f"{path}: line {lineno}: negatives must be a list")
        negatives = [text(n, lineno, "negative") for n in negatives]
        category = obj.get("category")
        examples.append(
            Example(query.strip(), positives, negatives, str(category) if category else None, set(positives), path.name)
        )
        collection.extend(positives + negatives)
    if docs is not None:
        collection = list(docs.values())
    # one line per (query, positive) pair is common: every positive of a query is relevant to all its lines
    by_query: dict[str, set[str]] = defaultdict(set)
    for e in examples:
        by_query[normalise(e.query)].update(e.positives)
    for e in examples:
        e.related |= by_query[normalise(e.query)]
    return TrainingData(examples, list(dict.fromkeys(collection)), path.name)


def _cut(text: str, max_words: int = DOC_WORDS) -> str:
    words = text.split()
    return " ".join(words[:max_words]) if len(words) > max_words else text


def trim_collection(data: TrainingData, others: int, seed: int = 0) -> TrainingData:
    """Keep the examples' own texts plus `others` random texts of the collection: negatives for a
    sampled source need not come from all of it (a first-stage teacher encodes the whole collection)."""
    own = {t for e in data.examples for t in (*e.positives, *e.negatives)}
    rest = [t for t in data.collection if t not in own]
    keep = own | set(random.Random(seed).sample(rest, min(others, len(rest))))
    data.collection = [t for t in data.collection if t in keep]
    return data


def combine(parts: list[TrainingData]) -> TrainingData:
    """Several sources trained together; each keeps mining negatives from its own collection."""
    if len(parts) == 1:
        return parts[0]
    examples = [e for p in parts for e in p.examples]
    return TrainingData(examples, [t for p in parts for t in p.collection], "+".join(p.name for p in parts))


def balance_categories(examples: list[Example], seed: int = 0) -> list[Example]:
    """Each category as often as the largest one (smaller ones repeated, then sampled), shuffled.

    Examples without a category are kept once each; the set is shuffled with the seed.
    """
    rng = random.Random(seed)
    groups: dict[str | None, list[Example]] = defaultdict(list)
    for e in examples:
        groups[e.category].append(e)
    sized = [len(v) for k, v in groups.items() if k is not None]
    out = list(groups.pop(None, []))
    if sized:
        target = max(sized)
        for cat in sorted(groups):
            group = groups[cat]
            reps, rest = divmod(target, len(group))
            out.extend(group * reps + rng.sample(group, rest))
    rng.shuffle(out)
    return out


_NORM = re.compile(r"\W+")


def normalise(text: str) -> str:
    return _NORM.sub(" ", text.lower()).strip()


def near_duplicate(a: str, b: str, threshold: float = 0.8) -> bool:
    """Same text up to case and punctuation, or word sets overlapping by `threshold` (Jaccard)."""
    na, nb = normalise(a), normalise(b)
    if na == nb or (len(na) > 40 and (na in nb or nb in na)):
        return True
    wa, wb = set(na.split()), set(nb.split())
    return bool(wa and wb) and len(wa & wb) / len(wa | wb) >= threshold
