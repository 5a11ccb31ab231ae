"""Build radlite's lexicon from the shared terminology sources (a committed, reproducible command).

    python -m radlite.terms.build --data ../shared/data

reads
  * radlite/data/lexicon/radiology_terms.tsv: the project's own hand-checked list (imaging and reporting
    abbreviations, conditions radiologists abbreviate, imaging signs and eponyms, lay words);
  * British spellings of the words the terms use, made by rule ("haemorrhage", "oesophageal", "ischaemic",
    "tumour"), read as their US forms;
  * radlite/data/lexicon/radiology_context.tsv: the project's own context words for the expansions of ambiguous
    abbreviations (the words a radiologist's query uses with each: "ctpa", "filling", "defect" with pulmonary
    embolism), counted before those found in public text;
  * medical-abbreviations/ (Wikipedia's list of medical abbreviations, CC BY-SA 4.0): abbreviation -> expansions;
  * mesh/ (MeSH 2024, NLM): entry terms of descriptors under Diseases, Anatomy and Analytical, Diagnostic and
    Therapeutic Techniques -> their heading; their acronyms;
  * disease-ontology/ (CC0): exact synonyms -> disease names, acronym synonyms, and definitions (the words that
    tell one expansion of an ambiguous abbreviation from another);
  * symptom-ontology/ (CC0): synonyms -> symptom names;
  * medquad/ (CC BY 4.0): which lower-case words are everyday English (MedQuAD's answers are written for the
    public), so that a lower-case query word is not read as an abbreviation; and, with pubmedqa/ (MIT) abstracts and
    the ontologies' definitions, the words used near each expansion of an ambiguous abbreviation (cooccurring);
and writes radlite/data/lexicon/lexicon.json.gz (see radlite.terms.lexicon for its layout).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import re
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from radlite.retrievers.bm25 import tokenize
from radlite.terms.lexicon import FORMAT, LEXICON_FILE, LEXICON_VERSION, OWN_CONTEXT, OWN_TERMS, phrase_key

ACRONYM = re.compile(r"^(?=(?:.*[A-Z]){2})[A-Za-z0-9][A-Za-z0-9-]{1,9}$")  # two capitals or more, short
MESH_CATEGORIES = {"Diseases", "Anatomy", "Analytical, Diagnostic and Therapeutic Techniques, and Equipment"}
GENERIC = {  # words every definition uses: no help in telling expansions apart
    "diseas",
    "characterized",
    "characteriz",
    "result",
    "located",
    "locat",
    "has_material_basis_in",
    "caus",
    "involv",
    "typic",
    "affect",
    "condit",
    "syndrom",
    "type",
    "form",
    "which",
    "from",
    "that",
    "other",
    "associ",
}
COOCCURRENCE_LIFT = 3.0
COMMON_TEXTS = 0.05
ATTRIBUTION = [
    "radlite's own radiology list (radlite/data/lexicon/radiology_terms.tsv) and context words "
    "(radlite/data/lexicon/radiology_context.tsv)",
    "Wikipedia, List of medical abbreviations (CC BY-SA 4.0), via lisavirginia/clinical-abbreviations",
    "MeSH 2024, courtesy of the U.S. National Library of Medicine",
    "Human Disease Ontology (CC0)",
    "Symptom Ontology (CC0)",
    "MedQuAD (CC BY 4.0; Ben Abacha & Demner-Fushman, BMC Bioinformatics 2019): which words are everyday English, "
    "and words used near each expansion of an ambiguous abbreviation",
    "PubMedQA (MIT License, Copyright (c) 2019 pubmedqa; Jin et al., EMNLP 2019): words used near each expansion of "
    "an ambiguous abbreviation",
]


def read_jsonl(path: Path):
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def own_terms(path: Path = OWN_TERMS) -> tuple[dict, dict]:
    """radlite's hand list: ({abbreviation: [expansion, ...]}, {phrase: [term, ...]})."""
    abbreviations, phrases = {}, {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 3 or parts[0] not in ("abbreviation", "sign", "lay", "phrase"):
            raise ValueError(f"{path}:{n}: expected 'kind<TAB>term<TAB>expansion[|expansion]'")
        kind, term, expansions = parts
        target = abbreviations if kind == "abbreviation" else phrases
        target[term if kind == "abbreviation" else phrase_key(term)] = [e.strip() for e in expansions.split("|")]
    return abbreviations, phrases


def own_context(path: Path = OWN_CONTEXT) -> dict[str, list[str]]:
    """radlite's hand-written context words: {expansion (lower case): [stem, ...]}, the words a radiologist's query
    uses with that meaning of an ambiguous abbreviation ("ctpa", "filling", "defect" with pulmonary embolism;
    "layering", "costophrenic", "thoracentesis" with pleural effusion), stemmed as BM25 stems them."""
    context: dict[str, list[str]] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
            raise ValueError(f"{path}:{n}: expected 'expansion<TAB>word[|word...]'")
        stems = []
        for word in parts[1].split("|"):
            found = tokenize(word.strip())
            # a hyphenated word, and those of its parts that say something alone ("ground-glass": ground, glass;
            # not "follow-up"'s "up" or "hla-b27"'s "b27", which other queries use for other things)
            stems += found[:1] + [t for t in found[1:] if t.isalpha() and len(t) >= 4]
        words = context.setdefault(parts[0].strip().lower(), [])
        words += [s for s in dict.fromkeys(stems) if s not in words]
    return context


def plain_name(heading: str, synonyms: list[str]) -> str | None:
    """How an inverted MeSH heading is named in plain order: the entry term with exactly the heading's words
    ("Lymphoma, Non-Hodgkin" -> "Non-Hodgkin Lymphoma", not the first plain entry term, "Diffuse Small
    Cleaved-Cell Lymphoma"); else, for a heading of two parts, the parts swapped ("Pneumonia, Lipid" -> "Lipid
    Pneumonia": an entry term with more words is usually a subtype); else the first plain entry term; None
    without one."""
    plain = [s for s in synonyms if "," not in s and "(" not in s]
    words = set(phrase_key(heading).split())
    same = next((s for s in plain if set(phrase_key(s).split()) == words), None)
    if same is not None:
        return same
    parts = [p.strip() for p in heading.split(",")]
    if len(parts) == 2 and all(parts):
        return f"{parts[1]} {parts[0]}"
    return plain[0] if plain else None


def cooccurring(names: list[str], texts: list[str], window: int = 20, most: int = 20) -> dict[str, list[str]]:
    """For each of `names` (expansions of ambiguous abbreviations), the words medical text uses near it far more than
    by chance: the words within `window` stems of a place where a text names it (its stems in a row), counted once
    per text. A word is kept where at least two texts use it so, where at most COMMON_TEXTS of the prose texts (those
    of 2 x `window` stems or more: a one-line definition says little about how common a word is) use it at all, and
    where its count is at least COOCCURRENCE_LIFT times the count chance gives: the sum, over the texts naming it, of
    the chance that the stems those texts hold near the name include the word at its rate in all the texts. The
    `most` best by count x log(lift). Identical texts count once. "multiple sclerosis" gets myelin, sheath,
    autoimmune, relapsing; "mitral stenosis" gets valve, regurgitation, but also, from texts that list a syndrome's
    features, interpedicular: a reading's words help only where the query uses them."""
    by_first: dict[str, list[tuple[str, tuple[str, ...]]]] = defaultdict(list)
    own: dict[str, set[str]] = {}  # each name's own stems, never counted as near it
    for name in names:
        stems = tuple(tokenize(name))
        if stems:
            by_first[stems[0]].append((name, stems))
            own[name] = set(stems)
    freq: Counter = Counter()
    used_by: Counter = Counter()  # how many prose texts use each word
    prose = 0
    near: dict[str, Counter] = defaultdict(Counter)
    covered: dict[str, list[int]] = defaultdict(list)  # per naming text, how many stems lie near the name
    for text in dict.fromkeys(texts):
        toks = tokenize(text)
        freq.update(toks)
        if len(toks) >= 2 * window:
            prose += 1
            used_by.update(set(toks))
        seen: dict[str, set[int]] = defaultdict(set)  # each name's nearby positions in this text
        for i, tok in enumerate(toks):
            for name, stems in by_first.get(tok, ()):
                if tuple(toks[i : i + len(stems)]) == stems:
                    seen[name].update(range(max(0, i - window), i))
                    seen[name].update(range(i + len(stems), min(len(toks), i + len(stems) + window)))
        for name, positions in seen.items():
            words = {toks[k] for k in positions} - own[name]
            near[name].update(t for t in words if t.isalpha() and len(t) > 2)
            covered[name].append(len(positions))
    total = sum(freq.values()) or 1
    out: dict[str, list[str]] = {}
    for name, counts in near.items():
        sizes = np.array(covered[name], dtype=np.float64)
        scored = []
        for t, c in counts.items():
            if c < 2 or t in GENERIC or used_by[t] > COMMON_TEXTS * prose:
                continue  # "patients", "treatment": used by so many texts that they tell no expansion from another
            expected = float(np.sum(1.0 - (1.0 - freq[t] / total) ** sizes))
            lift = c / max(expected, 1e-9)
            if lift >= COOCCURRENCE_LIFT:
                scored.append((c * math.log(lift), t))
        out[name] = [t for _, t in sorted(scored, key=lambda x: (-x[0], x[1]))[:most]]
    return out


# British spellings of medical words (the US form -> the British), by rule: each applies where the word has the
# part; a form the rules give that is the word itself is dropped
BRITISH_PREFIXES = [  # (US start, British start, starts it does not apply to)
    ("hem", "haem", ("hemi", "hemp")),  # hemorrhage, hematoma, hemoglobin; not hemithorax, hemisphere
    ("estr", "oestr", ("estrang",)),  # estrogen, estradiol
    ("fet", "foet", ("fetch", "fetid", "fetish", "fett")),  # fetal, fetus
    ("fec", "faec", ("fecund",)),  # fecal, feces, fecalith
    ("celia", "coelia", ()),  # celiac
    ("pediatr", "paediatr", ()),
    ("orthoped", "orthopaed", ()),
    ("gyne", "gynae", ()),  # gynecology, gynecomastia
    ("cec", "caec", ("cecil",)),  # cecum, cecal
    ("anest", "anaest", ()),
    ("etiolog", "aetiolog", ()),
    ("leuko", "leuco", ()),
    ("ameb", "amoeb", ()),
    ("pheo", "phaeo", ()),  # pheochromocytoma
]
BRITISH_PARTS = [  # (US part, British part) anywhere in a word: parts no everyday word holds
    ("esophag", "oesophag"),  # esophageal, gastroesophageal, tracheoesophageal
    ("edema", "oedema"),  # edema, lymphedema, papilledema, angioedema
    ("edemat", "oedemat"),  # edematous
    ("hemorrhag", "haemorrhag"),  # microhemorrhage, enterohemorrhagic
    ("hematom", "haematom"),  # cephalhematoma
    ("hemangi", "haemangi"),
    ("hemosider", "haemosider"),
    ("hemoly", "haemoly"),  # nonhemolytic
    ("esthesi", "aesthesi"),  # paresthesia, hypoesthesia, esthesioneuroblastoma
]
BRITISH_SUFFIXES = [  # (US end, British end)
    ("emia", "aemia"),  # anemia, ischemia, leukemia, uremia, hyperlipidemia
    ("emias", "aemias"),
    ("emic", "aemic"),  # ischemic, glycemic, uremic (not systemic, epidemic: NOT_EMIC)
    ("pnea", "pnoea"),  # dyspnea, apnea
    ("pneic", "pnoeic"),
    ("rrhea", "rrhoea"),  # diarrhea, amenorrhea
    ("rrheal", "rrhoeal"),
    ("rrheic", "rrhoeic"),  # seborrheic
    ("ization", "isation"),  # catheterization, hospitalization
    ("izations", "isations"),
    ("ocele", "ocoele"),  # hydrocele, varicocele (British texts write both)
]
NOT_EMIC = {"academia", "systemic", "epidemic", "endemic", "pandemic", "academic", "polemic", "epidemics"}
BRITISH_WORDS = {  # whole words no rule covers safely ("-or" and "-er" endings are too common to take by rule; not
    # "gray", which is also the dose unit in British English)
    "tumor": "tumour", "tumors": "tumours", "tumoral": "tumoural", "color": "colour", "labor": "labour",
    "odor": "odour", "humor": "humour", "behavior": "behaviour", "behavioral": "behavioural", "center": "centre",
    "centers": "centres", "fiber": "fibre", "fibers": "fibres", "liter": "litre", "milliliter": "millilitre",
    "caliber": "calibre", "theater": "theatre", "maneuver": "manoeuvre", "sulfate": "sulphate",
    "sulfur": "sulphur", "aluminum": "aluminium", "mold": "mould", "cesarean": "caesarean", "localized": "localised",
    "generalized": "generalised", "organized": "organised", "characterized": "characterised",
    "centimeter": "centimetre", "centimeters": "centimetres", "millimeter": "millimetre",
    "millimeters": "millimetres", "aging": "ageing", "catheterize": "catheterise", "immobilize": "immobilise",
    "visualize": "visualise", "visualized": "visualised",
}  # fmt: skip


def british_forms(word: str) -> set[str]:
    """The British spellings of the US medical word `word` (lower case): "hemorrhage" -> {"haemorrhage"},
    "ischemic" -> {"ischaemic"}, "lymphedema" -> {"lymphoedema"}, "tumor" -> {"tumour"}; empty when it has
    none."""
    out = {BRITISH_WORDS[word]} if word in BRITISH_WORDS else set()
    for us, uk, unless in BRITISH_PREFIXES:
        if word.startswith(us) and not word.startswith(unless or ("\0",)):
            out.add(uk + word[len(us) :])
    for us, uk in BRITISH_PARTS:
        for form in [word, *out]:
            if us in form and uk not in form:
                out.add(form.replace(us, uk))
    # a suffix rule on the word and on the forms above ("hyperemia", "hemoglobinemia": haemoglobinaemia)
    if word not in NOT_EMIC:
        for form in [word, *out]:
            for us, uk in BRITISH_SUFFIXES:
                if form.endswith(us) and not form.endswith(uk) and len(form) >= len(us) + 2:
                    out.add(form[: -len(us)] + uk)
    out.discard(word)
    # only the form with every rule applied, and the word's own: a half-British "haemoglobinemia" is nobody's
    return {f for f in out if not any(f != g and len(g) > len(f) and _british_of(f, g) for g in out)}


def _british_of(form: str, fuller: str) -> bool:
    """Whether `fuller` is `form` with more British parts (it holds each of form's British parts and more)."""
    return all(uk in fuller for _, uk, *_ in (*BRITISH_PREFIXES, *BRITISH_PARTS, *BRITISH_SUFFIXES) if uk in form)


def build(data: Path) -> dict:
    """The lexicon as a JSON-able dict."""
    abbreviations: dict[str, list[dict]] = {}

    def add_abbreviation(abbr: str, text: str, prior: float, source: str) -> None:
        text = text.strip()
        # one character only from radlite's own list ("#" for fracture): the general lists' single letters are noise
        if (len(abbr) < 2 and source != "radlite") or not text or text.lower() == abbr.lower():
            return
        entries = abbreviations.setdefault(abbr, [])
        if all(e["text"].lower() != text.lower() for e in entries):
            entries.append({"text": text, "prior": round(prior, 3), "source": source})

    own_abbr, own_phrases = own_terms()
    for abbr, expansions in own_abbr.items():
        for i, text in enumerate(expansions):
            add_abbreviation(abbr, text, 1.0 if i == 0 else 0.7, "radlite")
    for rec in read_jsonl(data / "medical-abbreviations" / "medical_abbreviations.jsonl"):
        if rec["category"] != "medical":
            continue
        base = 0.8 if rec["imaging_related"] else 0.5
        for i, text in enumerate(rec["expansions"]):
            add_abbreviation(
                rec["abbreviation"], text, base * 0.5**i * (0.5 if rec["abbreviation"] in own_abbr else 1), "wikipedia"
            )

    phrases: dict[str, list[str]] = defaultdict(list)

    def add_phrase(surface: str, term: str) -> None:
        key, term = phrase_key(surface), term.strip()
        if not key or "(" in surface or "," in surface or not (2 <= len(key.split()) <= 6):
            return
        if set(tokenize(term)) <= set(tokenize(surface)) or term.lower() in phrases[key] or len(phrases[key]) >= 2:
            return
        phrases[key].append(term.lower())

    for key, terms in own_phrases.items():
        phrases[key] = [t.lower() for t in terms]
    for rec in read_jsonl(data / "mesh" / "mesh_descriptors.jsonl"):
        if not MESH_CATEGORIES & set(rec["categories"]):
            continue
        name = rec["name"]
        if "," in name:  # an inverted heading ("Lymphoma, Non-Hodgkin"): named by its plain entry term
            name = plain_name(name, rec["synonyms"])
            if name is None:
                continue
        for syn in rec["synonyms"]:
            add_phrase(syn, name)
        for abbr in rec["abbreviations"]:
            if ACRONYM.match(abbr):
                add_abbreviation(abbr, name.lower(), 0.6, "mesh")
    definitions: dict[str, list[str]] = {}
    common = Counter()
    background: list[str] = []  # medical text the words that go with each expansion are counted in (cooccurring)
    for rec in read_jsonl(data / "disease-ontology" / "disease_ontology.jsonl"):
        for syn in rec["synonyms"]:
            if ACRONYM.match(syn):
                add_abbreviation(syn, rec["name"], 0.6, "disease-ontology")
            else:
                add_phrase(syn, rec["name"])
        if rec.get("definition"):
            definitions[rec["name"].lower()] = [t for t in tokenize(rec["definition"]) if t.isalpha() and len(t) > 2]
            background.append(f"{rec['name']}. {rec['definition']}")
            common.update(re.findall(r"\b[a-z]+\b", rec["definition"]))
    # words in many definitions ("characterized", "located") tell no expansion from another
    spread = Counter(t for words in definitions.values() for t in set(words))
    context = {
        name: list(dict.fromkeys(t for t in words if spread[t] <= len(definitions) // 50 and t not in GENERIC))[:20]
        for name, words in definitions.items()
    }
    # everyday English: lower-case words of MedQuAD's answers (written for the public) and of the definitions
    for rec in read_jsonl(data / "medquad" / "medquad_qa.jsonl"):
        common.update(re.findall(r"\b[a-z]+\b", rec.get("answer") or ""))
        background.append(rec.get("answer") or "")
    for rec in read_jsonl(data / "pubmedqa" / "pubmedqa_pqal.jsonl"):
        background.append(f"{rec.get('context') or ''} {rec.get('answer') or ''}")
    for rec in read_jsonl(data / "symptom-ontology" / "symptom_ontology.jsonl"):
        for syn in rec["synonyms"]:
            add_phrase(syn, rec["name"])
        if rec.get("definition"):
            common.update(w.lower() for w in re.findall(r"\b[a-z]+\b", rec["definition"]))
            background.append(f"{rec['name']}. {rec['definition']}")
    # the words that tell expansions of an ambiguous abbreviation apart: each expansion's own words, its
    # synonyms' words ("aortic valve stenosis" for aortic stenosis), where the Disease Ontology defines it, its
    # definition's, and the words medical text uses near it (cooccurring)
    synonyms_of = defaultdict(list)
    for surface, terms in phrases.items():
        for term in terms:
            synonyms_of[term].append(surface)
    ambiguous = sorted({e["text"].lower() for entries in abbreviations.values() if len(entries) > 1 for e in entries})
    found_with = cooccurring(ambiguous, background)
    contexts = {}
    for name in ambiguous:
        own = [t for t in tokenize(" ".join([name, *synonyms_of.get(name, [])[:6]])) if t.isalpha()]
        base = list(dict.fromkeys(own + context.get(name, [])))[:30]
        contexts[name] = base + [t for t in found_with.get(name, []) if t not in base]
    # radiology's own context (hand-written) first: public text rarely says what a radiologist's query says near a
    # reading ("CTA chest for PE": "chest" is near pleural effusion in public text, nothing radiological near
    # pulmonary embolism)
    for name, words in own_context().items():
        if name in contexts:
            contexts[name] = list(dict.fromkeys(words + contexts[name]))
    # British spellings of the words the lexicon's terms use, each to its US form ("haemorrhage" -> "hemorrhage"),
    # where it is no phrase already: a query typed in British English finds US-spelled passages and terms (the
    # British forms the terms themselves use, from MeSH and the Disease Ontology, too: "haemorrhage")
    words = {w for terms in phrases.values() for t in terms for w in re.findall(r"[a-z]+", t.lower())}
    words |= {w for w, n in common.items() if n >= 2}  # and of the public medical text read above ("oedematous")
    words |= {
        w for entries in abbreviations.values() for e in entries for w in re.findall(r"[a-z]+", e["text"].lower())
    }
    british = {}
    for word in sorted(words):
        if len(word) < 4:
            continue
        forms = sorted(british_forms(word))
        if forms:
            british[word] = forms
        for form in forms:
            if form not in phrases:
                phrases[form] = [word]
    return {
        "format": FORMAT,
        "version": LEXICON_VERSION,
        "attribution": ATTRIBUTION,
        "abbreviations": dict(sorted(abbreviations.items())),
        "phrases": dict(sorted(phrases.items())),
        "context": dict(sorted(contexts.items())),
        # each US word's British forms: BM25 also looks for them where the indexed collection uses them
        "british": british,
        # words of everyday English (frequent in definitions): a query typed in lower case is not read as an
        # abbreviation when its word is one of these ("men" is not MEN)
        "common_words": sorted(w for w, n in common.items() if n >= 3 and len(w) > 1),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Build radlite's lexicon from the shared terminology sources.")
    ap.add_argument("--data", type=Path, required=True, help="The shared data folder (mesh/, disease-ontology/, ...).")
    ap.add_argument("--out", type=Path, default=LEXICON_FILE)
    args = ap.parse_args(argv)
    lexicon = build(args.data)
    blob = json.dumps(lexicon, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")
    with gzip.GzipFile(args.out, "wb", mtime=0) as fh:  # mtime 0: the same sources give the same bytes
        fh.write(blob)
    print(
        f"wrote {args.out}: {len(lexicon['abbreviations'])} abbreviations, {len(lexicon['phrases'])} phrases, "
        f"{len(lexicon['context'])} contexts, {len(lexicon['common_words'])} common words; "
        f"{args.out.stat().st_size / 1e6:.2f} MB"
    )


if __name__ == "__main__":
    main()
