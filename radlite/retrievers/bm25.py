"""BM25 over passages with bm25s, and a tokenizer that keeps medical tokens intact.

Tokens such as `t2`, `c-spine`, `18f-fdg`, `bi-rads` and `3.0` stay whole; a hyphenated
compound is also indexed by its parts (`c-spine` -> `c-spine`, `spine`) so that a query
written without the hyphen still matches. Plain words are lower-cased, English stop-words
removed, and stemmed with the Snowball English stemmer (PyStemmer); tokens with digits or
hyphens are never stemmed.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from radlite.config import BM25Config
from radlite.retrievers import csr

_TOKEN = re.compile(r"[^\W_]+(?:(?:-|\.(?=\d))[^\W_]+)*")


def _fold(text: str) -> str:
    """Lower-case and strip accents, so `Sjögren` and `Sjogren` meet."""
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in text if not unicodedata.combining(c))


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def tokenize(text: str) -> list[str]:
    """Lower-case, split, drop stop-words, stem plain words; keep medical compounds whole."""
    stop = _stopwords()
    stem = _stemmer().stemWord
    out: list[str] = []
    for match in _TOKEN.finditer(_fold(text)):
        tok = match.group()
        if "-" in tok:
            out.append(tok)
            parts = [p for p in tok.split("-") if len(p) > 1 and p not in stop]
            out.extend(p if not p.isalpha() else stem(p) for p in parts)
        elif tok.isalpha():
            if len(tok) > 1 and tok not in stop:
                out.append(stem(tok))
        else:
            out.append(tok)
    return out


class BM25Index:
    """bm25s scores computed at index time, stored as .npy arrays plus a JSON vocabulary."""

    def __init__(self, retriever, vocab: dict[str, int], n_passages: int):
        self._retriever = retriever
        self.vocab = vocab
        self.n_passages = n_passages

    @classmethod
    def build(cls, texts: Sequence[str], cfg: BM25Config) -> "BM25Index":
        """A BM25 index (bm25s, `cfg.method`, k1, b) over `texts`, tokenised by `tokenize`."""
        import bm25s

        _quiet(bm25s)
        vocab: dict[str, int] = {"": 0}  # bm25s reserves an empty token for empty passages
        ids = []
        for text in texts:
            ids.append([vocab.setdefault(t, len(vocab)) for t in tokenize(text)])
        retriever = bm25s.BM25(k1=cfg.k1, b=cfg.b, method=cfg.method)
        retriever.index((ids, vocab), show_progress=False, create_empty_token=False)
        return cls(retriever, vocab, len(texts))

    def scores(self, query: str | Mapping[str, float]) -> np.ndarray:
        """BM25 score of every passage (float32, zeros where no query term occurs). `query` is text (tokenized by
        `tokenize`, a repeated stem counted each time) or weighted stems ({stem: weight}: QueryVectors.terms, an
        expanded query): the sum over stems of weight x the stem's stored score. One path for both: with text and
        the default method ("lucene"), what bm25s's get_scores gives (tests/unit/test_index_parts.py checks it).
        With "bm25+" or "bm25l", bm25s also adds each query term's constant to every passage, including those
        without it; that constant is left out here, which changes no ranking, and a passage that shares no term
        with the query scores 0."""
        terms = Counter(tokenize(query)) if isinstance(query, str) else query
        stored = self._retriever.scores
        data, indices, indptr = stored["data"], stored["indices"], stored["indptr"]
        out = np.zeros(self.n_passages, dtype=np.float32)
        for term, weight in terms.items():
            i = self.vocab.get(term)
            if i is None or weight <= 0:
                continue
            start, end = int(indptr[i]), int(indptr[i + 1])
            # a term's column lists each passage once, so a plain indexed add is exact (np.add.at is not needed)
            out[np.asarray(indices[start:end])] += np.float32(weight) * np.asarray(data[start:end])
        return out

    def postings(self, stem: str, most: int | None = None) -> np.ndarray | None:
        """The passages that use `stem`, ascending and each once (empty when none does); None when more than `most`
        do (their count is read first, so a common word costs nothing)."""
        i = self.vocab.get(stem)
        if i is None:
            return np.zeros(0, dtype=np.int64)
        stored = self._retriever.scores
        indptr = stored["indptr"]
        start, end = int(indptr[i]), int(indptr[i + 1])
        if most is not None and end - start > most:
            return None
        out = np.asarray(stored["indices"][start:end])
        # bm25s stores each term's column sorted; checked, as the reading relies on it
        return out if len(out) < 2 or bool(np.all(out[1:] > out[:-1])) else np.unique(out)

    def check(self) -> list[str]:
        """What is wrong with the stored arrays (shapes, ranges); [] when sound."""
        scores = getattr(self._retriever, "scores", None) or {}
        data, indices, indptr = (np.asarray(scores.get(k, [])) for k in ("data", "indices", "indptr"))
        problems = []
        if len(indptr) and (indptr[0] != 0 or np.any(np.diff(indptr) < 0) or indptr[-1] != len(data)):
            problems.append("bm25: the term pointer array is not a valid CSR index")
        if len(indices) != len(data) or (len(indices) and (indices.min() < 0 or indices.max() >= self.n_passages)):
            problems.append("bm25: passage numbers out of range")
        if len(data) and (not np.all(np.isfinite(data)) or data.min() < 0):
            problems.append("bm25: scores that are negative or not finite")
        return problems

    def save(self, folder: Path) -> None:
        """Write the bm25s arrays and radlite's vocabulary into `folder` (created)."""
        folder.mkdir(parents=True, exist_ok=True)
        self._retriever.save(str(folder), show_progress=False)
        (folder / "radlite_vocab.json").write_text(json.dumps(self.vocab), encoding="utf-8")
        (folder / "radlite_bm25.json").write_text(json.dumps({"n_passages": self.n_passages}), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> "BM25Index":
        """The index saved in `folder` (arrays memory-mapped). Raises OSError/ValueError on missing or damaged
        files."""
        import bm25s

        _quiet(bm25s)
        retriever = bm25s.BM25.load(str(folder), mmap=True, load_vocab=False, show_progress=False)
        vocab = json.loads((folder / "radlite_vocab.json").read_text(encoding="utf-8"))
        meta = json.loads((folder / "radlite_bm25.json").read_text(encoding="utf-8"))
        return cls(retriever, vocab, int(meta["n_passages"]))


def _quiet(module) -> None:
    """bm25s sets its logger to DEBUG on import, so every build printed "Building index from IDs"
    wherever logging has a handler (a server's log, the CLI)."""
    import logging

    logging.getLogger(module.__name__).setLevel(logging.WARNING)


class TermCounts:
    """Each passage's BM25 term counts (CSR rows over a vocabulary that only grows) and lengths:
    enough to give the document-side BM25 weights at any average length, and the collection's
    document frequencies, without tokenising the passages again."""

    def __init__(
        self, vocab: dict[str, int], indptr: np.ndarray, terms: np.ndarray, tf: np.ndarray, lengths: np.ndarray
    ):
        self.vocab, self.indptr, self.terms, self.tf, self.lengths = vocab, indptr, terms, tf, lengths

    @classmethod
    def of(cls, texts: Sequence[str], vocab: dict[str, int] | None = None) -> "TermCounts":
        """Counts of `texts` (radlite's BM25 tokenizer), extending a copy of `vocab`."""
        return cls.of_tokens([tokenize(t) for t in texts], vocab)

    @classmethod
    def of_tokens(cls, token_lists: Sequence[Sequence[str]], vocab: dict[str, int] | None = None) -> "TermCounts":
        """Counts of already tokenised texts; new terms get ids after those of `vocab`."""
        vocab = dict(vocab or {})
        indptr, terms, tf, lengths = [0], [], [], []
        for toks in token_lists:
            ids, counts = np.unique(
                np.array([vocab.setdefault(t, len(vocab)) for t in toks], dtype=np.int64), return_counts=True
            )
            terms.append(ids)
            tf.append(counts)
            indptr.append(indptr[-1] + len(ids))
            lengths.append(len(toks))
        cat = lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt)
        return cls(
            vocab, np.array(indptr, np.int64), cat(terms, np.int64), cat(tf, np.float32), np.array(lengths, np.float64)
        )

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def avgdl(self) -> float:
        """The mean passage length in tokens (1.0 for no passages)."""
        return float(self.lengths.mean()) if len(self.lengths) else 1.0

    def doc_freq(self) -> np.ndarray:
        """How many passages hold each term id (int64, (V,))."""
        return np.bincount(self.terms, minlength=len(self.vocab)).astype(np.int64)

    def extended(self, texts: Sequence[str]) -> "TermCounts":
        """These counts followed by those of `texts` (new terms get new ids)."""
        more = TermCounts.of(texts, self.vocab)
        return TermCounts(
            more.vocab,
            np.concatenate([self.indptr, more.indptr[1:] + self.indptr[-1]]),
            np.concatenate([self.terms, more.terms]),
            np.concatenate([self.tf, more.tf]),
            np.concatenate([self.lengths, more.lengths]),
        )

    def subset(self, rows: np.ndarray) -> "TermCounts":
        """The counts of passages `rows` only, in that order (the vocabulary is kept)."""
        rows = np.asarray(rows, dtype=np.int64)
        starts, ends = self.indptr[rows], self.indptr[rows + 1]
        take = csr.ranges(starts, ends)
        return TermCounts(
            dict(self.vocab),
            np.concatenate([[0], np.cumsum(ends - starts)]).astype(np.int64),
            self.terms[take],
            self.tf[take],
            self.lengths[rows],
        )

    def weights(self, rows: np.ndarray, avgdl: float, cfg: BM25Config) -> list[tuple[np.ndarray, np.ndarray]]:
        """(term ids, weights) of each row: tf / (tf + k1 * (1 - b + b * dl / avgdl)), bm25s' "lucene"
        BM25 without the IDF. Multiplied by ln(1 + (N - n + 0.5) / (n + 0.5)) per query term (Qdrant's
        IDF modifier, or the query side computed from the collection's frequencies) it is exactly
        BM25Index's score over the same passages."""
        if cfg.method != "lucene":
            raise ValueError(f"BM25 method {cfg.method!r}: only 'lucene' has a sparse-vector form here")
        out = []
        for r in np.asarray(rows, dtype=np.int64).tolist():
            a, b = self.indptr[r], self.indptr[r + 1]
            out.append((self.terms[a:b], lucene_tf(self.tf[a:b], self.lengths[r], avgdl, cfg.k1, cfg.b)))
        return out

    def save(self, folder: Path, name: str) -> None:
        """Write `<name>.npz` and `<name>_vocab.json` into `folder`."""
        np.savez(folder / f"{name}.npz", indptr=self.indptr, terms=self.terms, tf=self.tf, lengths=self.lengths)
        (folder / f"{name}_vocab.json").write_text(json.dumps(self.vocab), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, name: str) -> "TermCounts":
        """The counts saved under `name` in `folder`."""
        with np.load(folder / f"{name}.npz", allow_pickle=False) as z:
            arrays = {k: z[k] for k in ("indptr", "terms", "tf", "lengths")}
        vocab = json.loads((folder / f"{name}_vocab.json").read_text(encoding="utf-8"))
        out = cls(vocab, **arrays)
        if len(out.indptr) != len(out.lengths) + 1 or out.indptr[-1] != len(out.terms) or len(out.tf) != len(out.terms):
            raise ValueError(f"{name}: term counts disagree in length")
        return out


def query_terms(terms: dict[str, float], vocab: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """BM25's query ({stem: weight}, QueryVectors.terms: a stem's count in the text, or an expanded query's
    weight) as the known terms' ids, ascending, and their weights."""
    known = sorted((vocab[t], w) for t, w in terms.items() if t in vocab and w > 0)
    return np.array([i for i, _ in known], dtype=np.int64), np.array([w for _, w in known], dtype=np.float32)


def lucene_tf(tf: np.ndarray, length, avgdl: float, k1: float, b: float) -> np.ndarray:
    """BM25's saturated term frequency (bm25s "lucene": no k1 + 1 factor), float32."""
    tf = np.asarray(tf, dtype=np.float64)
    return (tf / (tf + k1 * (1 - b + b * np.asarray(length, dtype=np.float64) / avgdl))).astype(np.float32)


def lucene_idf(n_docs: int, doc_freq: np.ndarray) -> np.ndarray:
    """Lucene's IDF, ln(1 + (N - df + 0.5) / (df + 0.5)), for `n_docs` passages and each term's document
    frequency (float64)."""
    return np.log(1 + (n_docs - doc_freq + 0.5) / (doc_freq + 0.5))
