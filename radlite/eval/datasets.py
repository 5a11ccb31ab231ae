"""Evaluation datasets: any BEIR-layout folder, or the bundled `radbench9` benchmark by name.

A Dataset is a corpus, queries and graded judgments (qrels) for one split. Categories come
from the query's `category` field, else from the corpus field of its best-judged document,
else from a `categories.tsv` mapping (query-id <tab> category) beside the queries.

radbench9 is stored as one pair of files per subspecialty in `data/radbench9/parts/`
(`<category>.corpus.jsonl`, `<category>.queries.jsonl` with inline `qrels`). Its splits are by
condition: each condition goes to train, dev or test (about 60/15/25 per cent of the conditions
of each subspecialty) by a hash of its name, so no condition is in two splits and the
assignment never changes when passages are added.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from radlite.corpus import iter_jsonl, load_corpus
from radlite.errors import CorpusError
from radlite.types import Document

SPLITS = ("train", "dev", "test")
SPLIT_SHARES = (0.60, 0.15, 0.25)
BUNDLED = ("radbench9",)


@dataclass
class Query:
    id: str
    text: str
    category: str | None = None
    style: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Dataset:
    name: str
    split: str
    corpus: list[Document]
    queries: list[Query]
    qrels: dict[str, dict[str, int]]  # query id -> document id -> grade (0 = judged not relevant)

    @property
    def categories(self) -> list[str]:
        """Each query's category (subspecialty), or None where it has none."""
        return sorted({q.category for q in self.queries if q.category})


def load_dataset(name_or_path: str | Path, split: str = "test") -> Dataset:
    """A dataset by name ('radbench9') or BEIR folder, for `split` ('train', 'dev' or 'test').

    Raises:
        CorpusError: no such dataset or split, or files that cannot be read."""
    if split not in SPLITS:
        raise CorpusError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    if str(name_or_path) in BUNDLED:
        return load_radbench9(split)
    path = Path(name_or_path)
    if not path.is_dir():
        raise CorpusError(f"dataset not found: {name_or_path} (give a BEIR folder or one of: {', '.join(BUNDLED)})")
    return load_beir(path, split)


def load_beir(folder: Path, split: str = "test") -> Dataset:
    """A BEIR folder: corpus.jsonl, queries.jsonl and qrels/<split>.tsv (graded judgments)."""
    qrels_file = folder / "qrels" / f"{split}.tsv"
    if not qrels_file.is_file():
        raise CorpusError(f"{folder}: no qrels/{split}.tsv")
    corpus = load_corpus(folder)
    qrels = _read_qrels(qrels_file)
    queries = [q for q in _read_queries(folder / "queries.jsonl") if q.id in qrels]
    _fill_categories(queries, corpus, qrels, folder / "categories.tsv")
    return Dataset(folder.name, split, corpus, queries, {q.id: qrels[q.id] for q in queries})


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8") as fh:
        for lineno, row in enumerate(csv.reader(fh, delimiter="\t"), start=1):
            if not row or (lineno == 1 and row[0] in ("query-id", "query_id", "qid")):
                continue
            if len(row) < 3:
                raise CorpusError(f"{path}: line {lineno} needs query-id, corpus-id and score")
            try:
                qrels.setdefault(row[0], {})[row[1]] = int(float(row[2]))
            except ValueError:
                raise CorpusError(f"{path}: line {lineno}: score {row[2]!r} is not a number") from None
    return qrels


def _read_queries(path: Path) -> list[Query]:
    if not path.is_file():
        raise CorpusError(f"{path.parent}: no queries.jsonl")
    out = []
    for lineno, obj in iter_jsonl(path):
        try:
            qid, text = str(obj.get("_id", obj.get("id"))), obj["text"]
        except (KeyError, AttributeError):
            raise CorpusError(f"{path}: line {lineno} is not a query object with _id and text") from None
        meta = {k: v for k, v in obj.items() if k not in ("_id", "id", "text", "category", "style")}
        out.append(Query(qid, text, obj.get("category"), obj.get("style"), meta))
    return out


def _fill_categories(queries: list[Query], corpus: list[Document], qrels, mapping: Path) -> None:
    mapped = {}
    if mapping.is_file():
        with mapping.open(encoding="utf-8") as fh:
            mapped = {row[0]: row[1] for row in csv.reader(fh, delimiter="\t") if len(row) >= 2}
    doc_category = {d.id: d.category for d in corpus if d.category}
    for q in queries:
        if q.category:
            continue
        if q.id in mapped:
            q.category = mapped[q.id]
            continue
        judged = sorted(qrels.get(q.id, {}).items(), key=lambda kv: -kv[1])
        q.category = next((doc_category[d] for d, g in judged if g > 0 and d in doc_category), None)


# -- radbench9 -------------------------------------------------------------------------------


def radbench9_parts() -> Path:
    """The folder of radbench9's per-subspecialty files."""
    return Path(str(resources.files("radlite") / "data" / "radbench9" / "parts"))


def split_of(condition: str) -> str:
    """The split of a condition: a stable hash mapped onto the 60/15/25 shares."""
    h = int(hashlib.sha256(condition.encode("utf-8")).hexdigest()[:8], 16) / 0xFFFFFFFF
    if h < SPLIT_SHARES[0]:
        return "train"
    return "dev" if h < SPLIT_SHARES[0] + SPLIT_SHARES[1] else "test"


def load_radbench9(split: str = "test") -> Dataset:
    """radbench9's `split`: every subspecialty's corpus, and the queries of the conditions in that split."""
    parts = radbench9_parts()
    corpus_files = sorted(parts.glob("*.corpus.jsonl"))
    if not corpus_files:
        raise CorpusError(f"radbench9 is not installed: no files in {parts}")
    corpus: list[Document] = []
    queries: list[Query] = []
    qrels: dict[str, dict[str, int]] = {}
    for cf in corpus_files:
        corpus.extend(load_corpus(cf))
        # CAT.queries.jsonl: styles term, lay, board; CAT.vocab.jsonl: abbrev and negation (issue 18)
        vocab = cf.with_name(cf.name.replace(".corpus.", ".vocab."))
        query_files = [cf.with_name(cf.name.replace(".corpus.", ".queries."))] + ([vocab] if vocab.is_file() else [])
        for q in (q for f in query_files for q in _read_queries(f)):
            if split_of(q.metadata["condition"]) == split:
                qrels[q.id] = {str(k): int(v) for k, v in q.metadata.pop("qrels").items()}
                queries.append(q)
    # the whole corpus is searched for every split: splits separate queries and conditions
    return Dataset("radbench9", split, corpus, queries, qrels)
