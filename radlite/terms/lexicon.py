"""The lexicon radlite reads queries with: abbreviations (with every expansion and how likely each is), phrases
mapped to the field's terms (synonyms, lay words, imaging signs), the words that tell an ambiguous abbreviation's
expansions apart, everyday words a lower-case query token is not mistaken for an abbreviation, and the British
spellings of the terms' words (read as the US word when typed; looked for beside a typed US word where the
indexed collection uses them).

It ships inside the package (radlite/data/lexicon/lexicon.json.gz, built by `python -m radlite.terms.build`) and
is versioned; an index records the version and sha256 it was searched with, and may add a site glossary.

A site glossary is a TSV file (`term<TAB>expansion[|expansion...]`, '#' comments) or a JSON object
({"term": "expansion"} or {"term": ["expansion", ...]}). A term written with a capital letter, a digit or a slash
is an abbreviation (matched as written: "PE", "r/o" is not) when it is one word, any other a phrase (matched in any
case). Glossary entries come before the lexicon's.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from radlite.errors import CorpusError

FORMAT = "radlite-lexicon"
LEXICON_VERSION = "9"
DATA = Path(__file__).resolve().parents[1] / "data" / "lexicon"
LEXICON_FILE = DATA / "lexicon.json.gz"
OWN_TERMS = DATA / "radiology_terms.tsv"
OWN_CONTEXT = DATA / "radiology_context.tsv"
MAX_GLOSSARY = 20_000
WORD = re.compile(r"[^\W_]+(?:['’/.\-][^\W_]+)*")


def phrase_key(text: str) -> str:
    """How phrases are matched: lower case, words only (punctuation between words dropped)."""
    return " ".join(w.replace("’", "'") for w in WORD.findall(text.lower()))


@dataclass
class Lexicon:
    abbreviations: dict[str, list[dict]]  # "PE" -> [{"text", "prior", "source"}, ...]
    phrases: dict[str, list[str]]  # "heart attack" -> ["myocardial infarction"]
    context: dict[str, list[str]] = field(default_factory=dict)  # expansion -> stems that point to it
    common_words: frozenset = frozenset()
    version: str = LEXICON_VERSION
    sha256: str = ""
    glossary_entries: int = 0
    attribution: list = field(default_factory=list)
    british: dict[str, list[str]] = field(default_factory=dict)  # "hemorrhage" -> ["haemorrhage"]

    @property
    def longest_phrase(self) -> int:
        return max((len(k.split()) for k in self.phrases), default=0)

    def with_glossary(self, glossary: dict[str, list[str]] | None) -> "Lexicon":
        """This lexicon with a site glossary's entries put first (see the module docstring)."""
        if not glossary:
            return self
        abbreviations = dict(self.abbreviations)
        phrases = dict(self.phrases)
        for term, expansions in glossary.items():
            if is_abbreviation(term):
                own = [{"text": e, "prior": 1.0, "source": "glossary"} for e in expansions]
                rest = [
                    e for e in abbreviations.get(term, []) if e["text"].lower() not in {x.lower() for x in expansions}
                ]
                abbreviations[term] = own + rest
            else:
                phrases[phrase_key(term)] = [e.lower() for e in expansions]
        return Lexicon(
            abbreviations,
            phrases,
            self.context,
            self.common_words,
            self.version,
            self.sha256,
            len(glossary),
            self.attribution,
            self.british,
        )

    def describe(self) -> dict[str, Any]:
        """What an index's manifest records of it."""
        return {
            "lexicon": f"{FORMAT}-v{self.version}",
            "sha256": self.sha256,
            "glossary_entries": self.glossary_entries,
        }


def is_abbreviation(term: str) -> bool:
    """A glossary term is an abbreviation if it is one word with a capital letter, a digit or a slash; a term of
    several words is a phrase ("Dawson fingers")."""
    return len(term.split()) == 1 and any(c.isupper() or c.isdigit() or c == "/" for c in term)


@functools.lru_cache(maxsize=4)
def load_lexicon(path: str | None = None) -> Lexicon:
    """The lexicon shipped with radlite (or the one at `path`).

    Raises:
        CorpusError: the file is missing or not a radlite lexicon."""
    path = Path(path) if path else LEXICON_FILE
    try:
        blob = path.read_bytes()
        data = json.loads(gzip.decompress(blob))
    except (OSError, ValueError, EOFError) as exc:
        raise CorpusError(f"cannot read the lexicon {path} ({exc}); reinstall radlite or rebuild it") from None
    if data.get("format") != FORMAT:
        raise CorpusError(f"{path} is not a radlite lexicon")
    return Lexicon(
        abbreviations=data["abbreviations"],
        phrases=data["phrases"],
        context=data.get("context", {}),
        common_words=frozenset(data.get("common_words", [])),
        version=str(data.get("version", "?")),
        sha256=hashlib.sha256(blob).hexdigest(),
        attribution=data.get("attribution", []),
        british=data.get("british", {}),
    )


def read_glossary(path: str | Path) -> dict[str, list[str]]:
    """A site glossary from a TSV or JSON file (see the module docstring).

    Raises:
        CorpusError: the file is missing, malformed or too large, naming the line or entry."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # a spreadsheet's byte-order mark is not part of a term
    except (OSError, UnicodeDecodeError) as exc:
        raise CorpusError(f"cannot read the glossary {path}: {exc}") from None
    out: dict[str, list[str]] = {}
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise CorpusError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise CorpusError(f'{path}: expected a JSON object {{"term": "expansion" or ["expansion", ...]}}')
        for term, value in data.items():
            values = [value] if isinstance(value, str) else value
            if not isinstance(values, list) or not values or not all(isinstance(v, str) and v.strip() for v in values):
                raise CorpusError(f"{path}: entry {term!r} must map to a non-empty string or list of strings")
            out[term.strip()] = [v.strip() for v in values]
    else:
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
                raise CorpusError(f"{path}:{n}: expected 'term<TAB>expansion[|expansion...]'")
            out[parts[0].strip()] = [e.strip() for e in parts[1].split("|") if e.strip()]
    if not out:
        raise CorpusError(f"{path}: the glossary has no entries")
    if len(out) > MAX_GLOSSARY:
        raise CorpusError(f"{path}: {len(out)} entries; at most {MAX_GLOSSARY}")
    bad = next((t for t in out if not phrase_key(t)), None)
    if bad is not None:
        raise CorpusError(f"{path}: the term {bad!r} has no letters or digits")
    return out
