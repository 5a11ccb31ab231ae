"""Query understanding: what a query means in the field's words, before retrieval.

`Expander(lexicon, vocab, postings).expand(query)` returns an `Expansion`:
  * abbreviations expanded ("SAH" -> subarachnoid hemorrhage). An ambiguous one ("PE": pulmonary embolism,
    pleural effusion, ...) gets weighted alternatives: each expansion's prior (radlite's own list first, then the
    imaging-related entries of the others), plus how many of the words that point to it (its own words, its
    Disease Ontology definition's, and, given the collection's `postings`, the words its passages use it with)
    the rest of the query holds, through a softmax; expansions whose words never occur in the indexed
    collection are dropped, and so are alternatives under 15%.
  * phrases mapped to the field's terms: synonyms and lay words ("shortness of breath" -> dyspnea), imaging
    signs ("Dawson fingers" -> multiple sclerosis).
  * negated findings found and set aside, NegEx-style: a cue ("no", "without", "negative for", "free of", "ruled
    out", "resolved", "absent", ...) and its scope (up to six words after a cue that precedes, four before one
    that follows, never past punctuation or "but", "however", "with", ..., except a list that ends in "or": "no
    pneumothorax, effusion or consolidation"). A negated term and its expansions pull no documents. A cue inside a
    lexicon phrase is part of a name ("triple negative breast cancer"), and what a scan is done without ("CT without
    contrast") is dropped but pushes nothing down. A negated action is the finding ("has not passed meconium", "is
    not passing stool"): nothing is set aside; so is the absence of what the body normally shows ("no lung
    sliding", "absent intratesticular flow": NORMAL_SIGNS). Uncertain findings ("rule out", "r/o", "suspected", "?") are
    marked and kept: they are what the user is looking for.
Each retriever gets the expansion that suits it: BM25 a weighted bag of stems (the query's own at weight 1, an
abbreviation's expansions at 0.6 x their weight, a phrase's terms at 1, shared among them), the neural models the
query's text with negated spans removed and expansions written in after their abbreviation or phrase ("SAH
(subarachnoid hemorrhage) on NCCT (non-contrast computed tomography) head").
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from radlite.retrievers.bm25 import _stopwords, lucene_idf, tokenize
from radlite.terms.lexicon import Lexicon, phrase_key

# an abbreviation's expansions weigh 0.6 x their share in BM25: on radbench9 train and dev (lexicon 4), 0.4, 0.8 and 1.0
# gave abbreviation queries +0.047 / +0.040 / +0.043 nDCG@10 over expansion off on dev against 0.6's +0.050
ABBREVIATION_WEIGHT = 0.6
# a phrase's terms weigh as much as the words typed (shared when there are several): on radbench9 train and dev,
# 1.0 gains 0.01-0.015 nDCG@10 on lay queries over 0.5 and changes no other style by more than 0.003
PHRASE_WEIGHT = 1.0
MIN_SHARE = 0.15
CONTEXT_GAIN = 1.5
# the collection's own say on an ambiguous abbreviation (Expander._associated): a query word goes with an expansion
# when the passages using the expansion use it over LIFT times as often as all passages do; words used by more than
# COMMON_SHARE of all passages are not counted
LIFT = 2.0
COMMON_SHARE = 0.05
# "#" before or after a word is British shorthand for fracture ("#NOF", "# distal radius", "scaphoid #"); before a
# number it is one ("#3", "issue #42")
TOKEN = re.compile(r"[^\W_]+(?:['’/.\-][^\W_]+)*|[.,;:!?()\[\]]|#(?=\s?[^\W\d_]|\s*[.,;:!?)]|\s*$)")
PUNCT = set(".,;:!?()[]")
# two letters in lower case that are words or Latin shorthand, never read as an abbreviation (Expander._lower_pair):
# "vs" is versus, not vestibular schwannoma; "eg", "ie" are e.g., i.e.
PAIR_WORDS = {"vs", "us", "eg", "ie", "ok", "oh", "hi", "id", "ex", "re", "am", "pm", "mr", "st", "nd", "rd", "th"}
PRE_NEGATION = [
    "no evidence of",
    "no signs of",
    "no sign of",
    "negative for",
    "free of",
    "absence of",
    "ruled out",
    "without",
    "w/o",
    # NegEx's triggers (Chapman et al. 2001) for a negated verb of having or showing: what follows is absent ("does
    # not show a fracture"), where another negated verb describes the finding (ACTION_CUES)
    "not have",
    "not had",
    "never had",
    "never developed",
    "not show",
    "not showing",
    "not demonstrate",
    "not demonstrating",
    "not reveal",
    "not revealing",
    "not having",
    "not involving",
    "not detect",
    "not identify",
    "not visualize",
    "not visualise",
    "not appreciate",
    "fails to reveal",
    "not exhibit",
    "not appear",
    "not see",
    "not feel",
    "not complain of",
    "not associated with",
    # "nodule not a concern for malignancy" sets aside the malignancy (POST_NEGATION: "lymphoma not a concern")
    "not a concern for",
    "not a consideration for",
    # a report's verdict against a diagnosis: "not consistent with cholecystitis" sets cholecystitis aside
    "not consistent with",
    "not compatible with",
    "not in keeping with",
    "not suggestive of",
    "not typical of",
    "inconsistent with",
    "no concern for",
    "no",
    "not",
    "denies",
    "denied",
    "never",
    # after a finding it negates it ("UIP pattern absent"); before one it is part of the finding (ATTRIBUTIVE),
    # except where nothing follows it
    "absent",
]
# before what it describes, "absent" names a finding: "absent ureteric jet", "absent gallbladder" (biliary atresia),
# "absent bow tie" (a bucket-handle tear), "absent enhancement" (an infarct). Only after it does it negate ("UIP
# pattern absent"), and then not what the body normally shows (NORMAL_SIGNS: "cremasteric reflex absent")
ATTRIBUTIVE = {"absent"}
# what a title says is missing: "Pneumothorax: absent lung sliding" (Expansion.about_negated)
ABSENCE_CUES = {"no", "not", "absent", "absence", "without", "loss", "lack", "lacking", "missing"}
QUANTIFIERS = {"all", "always", "every", "only", "just", "necessarily"}  # "not all pneumoperitoneum needs surgery"
POST_NEGATION = [
    "ruled out",
    "not seen",
    "not present",
    "not identified",
    "not suspected",
    "not favoured",
    "not favored",
    "not likely",
    "not considered",
    "not supported",
    # "BIA-ALCL not a concern": what comes before is set aside, not "a concern"
    "not a concern",
    "not a consideration",
    "not a worry",
    "not shown",
    "not demonstrated",
    "not detected",
    "not visualized",
    "not visualised",
    "not evident",
    "excluded",
    "resolved",
    "absent",
    "negative",
    "unlikely",
]
# a hedge keeps the finding before it, uncertain: "appendicitis cannot be ruled out" is not "appendicitis ruled out"
HEDGES = [
    "cannot be excluded",
    "can't be excluded",
    "could not be excluded",
    "cannot be ruled out",
    "can't be ruled out",
    "could not be ruled out",
    "not excluded",
    "not ruled out",
    "not be excluded",
    "not be ruled out",
]
# "negative" before what it describes labels a kind ("HER2 negative breast cancer", "ANCA negative vasculitis",
# "smear negative tuberculosis"); after a finding, with nothing following, it negates ("D-dimer negative, ...")
# ("HIV negative patient with lymphoma" still negates HIV: a person is no kind of disease)
LABELS = {"negative"}
PERSONS = set(
    "patient patients pt pts man men woman women male female child children boy girl infant neonate adult adults "
    "individual person host subject donor".split()
)
UNCERTAIN = [
    "rule out",
    "r/o",
    "suspicious for",
    "concern for",
    "question of",
    "suspected",
    "possible",
    "probable",
    "likely",
    # the hedges written before the finding ("cannot exclude PE"); after it they are HEDGES
    "cannot exclude",
    "can't exclude",
    "could not exclude",
    "?",
    "query",  # British clinical shorthand for "?": "query appendicitis", "query scaphoid fracture"
]
TERMINATORS = {
    "but",
    "however",
    "although",
    "though",
    "yet",
    "except",
    "which",
    "who",
    "while",
    "whereas",
    "with",
    "w",  # "w/": the tokenizer keeps the "w"
    # a qualifier is not what is negated: "no fracture on CT", "no ovarian cancer on pathology"
    "on",
    "in",
    "at",
    "by",
    "after",
    "from",
    "to",
    "for",
    "within",
}
PRE_SCOPE, POST_SCOPE = 6, 4
# clinical shorthand that a finding follows: after one, "pe" typed in lower case is PE ("r/o pe", "h/o mi", "? ms")
SHORTHAND = {"r/o", "h/o", "s/p", "c/o", "?", "hx", "dx", "ddx"}
# a roman numeral after one of these is a grade, a stage or a type, not an abbreviation ("grade IV VUR")
ROMAN = re.compile(r"^(?=[ivx])i{0,3}(?:v|x)?i{0,3}[a-c]?$")
GRADED = {
    "grade",
    "stage",
    "type",
    "class",
    "level",
    "phase",
    "tier",
    "category",
    "zone",
    # named classifications
    "bell",
    "bosniak",
    "fisher",
    "salter-harris",
    "harris",
    "garden",
    "neer",
    "schatzker",
    "gustilo",
    "hinchey",
    "mason",
    "modic",
    "tanner",
    "debakey",
    "clark",
    "hunt-hess",
    "hess",
}
# what a scan is done without is not a finding: a list after it is what is sought ("without contrast, appendicitis or
# stone")
PROTOCOL = {
    "contrast",
    "dye",
    "iv",
    "intravenous",
    "oral",
    "iodinated",
    "gadolinium",
    "gad",
    "sedation",
    "anesthesia",
}
# "not" after one of these, or before a word ending in -ing, negates an action, and the action is the finding: "has
# not passed meconium", "does not move between positions", "is not passing stool", "did not respond to antibiotics".
# Nothing is set aside. A state is still negated ("is not enlarged", "not a cyst"), and so is what a negated verb of
# having or showing names (PRE_NEGATION: "does not show a fracture", "did not have a stroke"), a finding in -ing
# ("not bleeding": a lexicon phrase, or one of FINDINGS_ING) and what "never" negates ("never smoked")
FINDINGS_ING = {
    "thickening", "scarring", "clubbing", "smoking", "vomiting", "enhancing", "calcifying", "bulging", "shunting",
    "ringing", "tingling", "itching", "bruising", "sweating", "snoring", "fainting", "limping", "drooling",
    "stuttering", "wasting", "dripping", "leaking", "cavitating",
}  # fmt: skip
AUXILIARIES = {
    "do",
    "does",
    "did",
    "has",
    "have",
    "had",
    "will",
    "would",
    "can",
    "could",
    "should",
    "may",
    "might",
    "must",
}
ACTION_CUES = {"not"}
# "not" before a state of the patient negates that state only, not the words after it: "pelvic pain not pregnant
# ovarian torsion" sets pregnancy aside and looks for ovarian torsion. Only these words: before most adjectives "not"
# negates what they describe too ("not obstructive HCM" sets the HCM aside), and states that name diseases with the
# next word are left out ("not diabetic mastopathy", "not hypertensive encephalopathy", "not febrile neutropenia")
PATIENT_STATES = frozenset(
    "pregnant postmenopausal premenopausal anticoagulated immunocompromised immunosuppressed intubated sedated"
    " vaccinated immunized circumcised symptomatic".split()
)
# what the body normally shows or does: its absence is the finding ("absent lung sliding", "no flow on color Doppler",
# "absent ureteric jet", "no bowel sounds", "loss of corticomedullary differentiation"), not a condition set aside.
# A negated item whose head is one of these words, as written (not "visual" for visualization, not "pulsatile"), and
# that no ABNORMAL word qualifies ("no hepatofugal flow" sets a condition aside) is kept in the query and pushes
# nothing down; the head is the item's word before its first preposition ("no flow in the hepatic veins") or its last
# ("cremasteric reflex is absent"), so a sign used as a modifier is no head ("no filling defect", "no perfusion
# deficit", "no reversal of flow" stay negated). Opacification is left out: in the chest and sinuses it is the disease.
NORMAL_SIGNS = frozenset(
    "flow flows sliding jet jets sounds differentiation peristalsis pulsation pulsations pulsatility perfusion "
    "filling reflex reflexes pulse pulses visualization visualisation excretion drainage".split()
)
ABNORMAL = frozenset(
    "abnormal anomalous increased decreased reduced diminished reversed retrograde hepatofugal turbulent slow "
    "sluggish delayed asymmetric asymmetrical persistent excessive".split()
)
HEAD_ENDS = frozenset("in on of at within to from through across over into along with for by".split())
LINKING = frozenset("is are was were be been".split())
# where one negated thing ends and the next begins ("no pneumothorax or effusion"), and words that name nothing
# ("no definite mass")
ITEM_BREAKS = {"or", "and", "nor"}
VAGUE = {
    "any",
    "all",
    "some",
    "other",
    "definite",
    "definitive",
    "obvious",
    "significant",
    "further",
    "new",
    "evidence",
    # "no metal hardware present": what is said of the thing is not part of its name
    "present",
    "seen",
    "identified",
    "noted",
    "visible",
}
# after a cue that can go either way ("ruled out", "excluded"), these words say it closed what came before it:
# "abuse ruled out by the team", "PE excluded on CTPA"
CLOSES_BEFORE = {"by", "on", "at", "in", "clinically", "today", "now", "previously", "and", "or"}
# adverbs that close it too ("honeycombing absent bilaterally"), so "absent" before one is not attributive
CLOSES_BEFORE |= set(
    "bilaterally unilaterally diffusely entirely completely throughout elsewhere again centrally peripherally "
    "focally globally anteriorly posteriorly medially laterally superiorly inferiorly proximally distally".split()
)


IRREGULAR = {"feet": "foot", "teeth": "tooth"}


def _irregular(key: str) -> str:
    """`key` with an irregular plural at its end made singular ("club feet" -> "club foot", "clubfeet" ->
    "clubfoot"); else `key`."""
    return next((key[: -len(plural)] + one for plural, one in IRREGULAR.items() if key.endswith(plural)), key)


@dataclass
class Expansion:
    """How one query was read (see the module docstring). `bm25_terms` is None when nothing was changed."""

    query: str
    neural_text: str
    bm25_terms: dict[str, float] | None
    abbreviations: list[dict] = field(default_factory=list)  # {"text", "expansions": [{"text", "weight"}]}
    phrases: list[dict] = field(default_factory=list)  # {"text", "terms": [...]}
    negated: list[dict] = field(default_factory=list)  # {"cue", "text"}
    uncertain: list[dict] = field(default_factory=list)  # {"cue", "text"}
    # each negated span, as the ways of naming it: [(stems, weight)], its own words at 1, an abbreviation's
    # expansions at their weight, a phrase's terms at 1 (what radlite.search.engine pushes results down for)
    negated_items: list[list[tuple[frozenset, float]]] = field(default_factory=list)

    @property
    def negated_terms(self) -> dict[str, float]:
        """Every stem of every reading of what the query negates, with the reading's largest weight."""
        out: dict[str, float] = {}
        for item in self.negated_items:
            for stems, w in item:
                for s in stems:
                    out[s] = max(out.get(s, 0.0), w)
        return out

    def about_negated(self, text: str) -> float:
        """Whether `text` (a title) names something the query negates, in [0, 1]: the largest weight of a reading
        of a negated span whose every stem `text` holds ("Cecal volvulus" does not name "sigmoid volvulus"), unless
        `text` names it as absent too: "Pneumothorax: absent lung sliding" is what "no lung sliding" looks for."""
        words = set(tokenize(text))
        named = [(stems, w) for item in self.negated_items for stems, w in item if stems and stems <= words]
        if not named:
            return 0.0
        absent = _absent_in(text)  # read once per title, and only for one that names a negated thing
        return max((w for stems, w in named if not any(stems <= scope for scope in absent)), default=0.0)

    @property
    def changed(self) -> bool:
        return bool(self.abbreviations or self.phrases or self.negated)

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "text_for_neural_models": self.neural_text,
            "abbreviations": self.abbreviations,
            "phrases": self.phrases,
            "negated": self.negated,
            "uncertain": self.uncertain,
        }

    @cached_property
    def _readings(self) -> list[tuple[str, frozenset]]:
        """Each expansion as ("SAH -> subarachnoid hemorrhage", its stems), tokenized once per query."""
        pairs = [(a["text"], e["text"]) for a in self.abbreviations for e in a["expansions"]]
        pairs += [(p["text"], term) for p in self.phrases for term in p["terms"]]
        return [(f"{typed} -> {meant}", frozenset(tokenize(meant))) for typed, meant in pairs]

    def matched_in(self, text: str) -> list[str]:
        """Which expansions a passage matches, as "SAH -> subarachnoid hemorrhage" (every stem of the expansion
        in the passage)."""
        stems = set(tokenize(text))
        return [label for label, words in self._readings if words and words <= stems]


def _absent_in(text: str) -> list[set[str]]:
    """The stems `text` says are absent, one set per ABSENCE_CUES word: the words after it, up to four and never
    past punctuation, "and"/"or" or a TERMINATORS word ("absent lung sliding", "loss of lung sliding"; not
    "absent bowel sounds and pneumoperitoneum"), none after a quantifier ("not all pneumoperitoneum")."""
    words = [w.lower() for w in TOKEN.findall(text)]

    def stop(j: int) -> bool:
        return words[j] in PUNCT or words[j] in ITEM_BREAKS or words[j] in TERMINATORS

    return [
        {s for j in Expander._scope(range(i + 1, min(len(words), i + 5)), stop) for s in tokenize(words[j])}
        for i, w in enumerate(words)
        if w in ABSENCE_CUES and not (i + 1 < len(words) and words[i + 1] in QUANTIFIERS)
    ]


# a participle before a noun and the nouns it makes after one: "swollen brain" is "brain swelling" (lay words are
# written either way; the lexicon holds one)
PARTICIPLES = {
    "swollen": ["swelling"],
    "bulging": ["bulge"],
    "bulged": ["bulge"],
    "narrowed": ["narrowing", "stenosis"],
    "enlarged": ["enlargement"],
    "thickened": ["thickening"],
    "inflamed": ["inflammation"],
    "blocked": ["blockage", "obstruction"],
    "obstructed": ["obstruction"],
    "torn": ["tear"],
    "ruptured": ["rupture"],
    "burst": ["rupture"],
    "collapsed": ["collapse"],
    "infected": ["infection"],
    "fractured": ["fracture"],
    "broken": ["fracture"],
    "calcified": ["calcification"],
    "herniated": ["herniation"],
    "displaced": ["displacement"],
    "perforated": ["perforation"],
    "dilated": ["dilatation", "dilation"],
    "compressed": ["compression"],
    "dislocated": ["dislocation"],
    "twisted": ["torsion"],
    "detached": ["detachment"],
    "sprained": ["sprain"],
    "bruised": ["bruising"],
    "cracked": ["crack"],
    "scarred": ["scarring"],
    "hardened": ["hardening"],
    "impacted": ["impaction"],
    "trapped": ["entrapment"],
    # after a noun only ("nerve pinched": a pinched nerve); no noun of their own
    "pinched": [],
    "slipped": [],
    "clogged": [],
    "punctured": [],
    "shrunken": [],
    "bloated": [],
}
# participles read one way only: "hip fracture" is not "broken hip" written the other way round
ONE_WAY = {"burst", "broken", "bulging"}
# each noun after a word, to the participles that put it before the word ("rupture" -> "ruptured")
NOMINALS = {
    noun: [p for p, made in PARTICIPLES.items() if noun in made and p not in ONE_WAY]
    for nouns in PARTICIPLES.values()
    for noun in nouns
}
# past tenses that are not the participle, to it: "my knee swelled up" is a swollen knee
PAST = {"swelled": "swollen", "broke": "broken", "tore": "torn"}
# what may follow a phrase read with a shorter lay phrase's term in it (Expander._within): "throwing up blood after
# drinking" is hematemesis, but in "throwing up blood pressure pills" the blood is another phrase's
AFTER_PHRASE = frozenset(
    "up after on in at with and but or since from following for of to when while so then by during over"
    " overnight badly again last yesterday today fast quickly suddenly".split()
)
# before a noun, what makes something else the subject of a participle after it: in "screw in hip broke" the screw broke
INSIDE = frozenset({"in", "inside", "within", "into", "through", "of"})
# words that lead into a phrase rather than name what a participle after them describes (_described_before)
LEADS_IN = frozenset(
    "with and or of in on at for to from by into without no not the a an his her their its my your very has have had"
    " shows showing show seen noted see".split()
)
# after a noun, words that say it looks as it should: in "spleen enlarged liver normal" the liver is not enlarged
STATED_NORMAL = frozenset({"normal", "nl", "wnl", "unremarkable", "clear", "fine", "ok"})
SIDES = frozenset({"left", "right", "bilateral"})
# words a lay phrase is written with or without ("fluid on my knee", "fluid on the knee")
DETERMINERS = frozenset({"the", "a", "an", "my", "your", "his", "her", "their", "our", "its"})


# the query's words before a phrase, after it, and after that (None past its ends)
Around = tuple[str | None, str | None, str | None]


def _described_before(first: str, around: Around) -> bool:
    """Whether a phrase whose first word is `first` starts with a participle that describes the word before it in a
    list of findings, because the phrase's own noun is said to be normal after it: "kidney enlarged spleen normal" (an
    enlarged kidney, a normal spleen). The word before must be a noun of its own, not a word such as "with" or
    "mildly" ("with enlarged spleen normal liver" is an enlarged spleen). `around`: the query's words before and
    after the phrase, and the one after that."""
    before, then, _ = around
    return (
        first in PARTICIPLES
        and then in STATED_NORMAL
        and before is not None
        and before.isalpha()
        and len(before) >= 3
        and not before.endswith("ly")
        and before not in LEADS_IN
        and before not in PERSONS
        and before not in PARTICIPLES
    )


def _bare(key: str) -> str:
    """A phrase key folded (_fold) and without articles and possessive pronouns."""
    return " ".join(w for w in _fold(key).split() if w not in DETERMINERS)


def _fold(key: str) -> str:
    """A phrase key without hyphens and apostrophes: "tree-in-bud sign" -> "tree in bud sign", "bull's" -> "bulls"."""
    return " ".join(key.replace("-", " ").replace("'", "").split())


def _besides(terms: list[str], typed: str) -> list[str] | None:
    """`terms` without the typed phrase itself written another way, which adds nothing ("Kearns-Sayre syndrome" for
    "kearns sayre syndrome"); None if nothing is left."""
    return [t for t in terms if _fold(phrase_key(t)) != _fold(typed)] or None


def _singulars(key: str) -> list[str]:
    """`key` with its last word made singular by English's regular endings: "slipped discs" -> "slipped disc",
    "arteries" -> "artery", "crushes" -> "crushe", "crush". Not the other way: MeSH's plural entry terms often name
    a group under a heading that one thing is not ("mucinous neoplasm" is not "serous neoplasms"), and a singular
    can mean something else ("pile", "piles"). Words under four letters, or ending in "ss", "us" or "is", are left
    alone."""
    head, _, last = key.rpartition(" ")
    if len(last) < 4 or not last.isalpha() or not last.endswith("s") or last.endswith(("ss", "us", "is")):
        return []
    if last.endswith("ies"):
        forms = [last[:-3] + "y"]
    elif last.endswith("es"):
        forms = [last[:-1], last[:-2]]
    else:
        forms = [last[:-1]]
    return [f"{head} {f}" if head else f for f in forms]


@dataclass
class _Token:
    text: str
    start: int
    end: int

    @property
    def low(self) -> str:
        return self.text.lower()


class Expander:
    """Reads queries with `lexicon`; `vocab` (a BM25 vocabulary of stems, optional) drops expansions whose words
    the collection never uses."""

    def __init__(self, lexicon: Lexicon, vocab: dict | set | None = None, postings=None):
        self.lexicon = lexicon
        self.vocab = vocab
        self.postings = postings  # optional: `postings(stem, most)` -> passage numbers, and `n_passages`
        self._passages: dict[str, np.ndarray] = {}  # an expansion's passages (_passages_of)
        self.longest = min(lexicon.longest_phrase, 6)

    # -- pieces --------------------------------------------------------------------------------
    def _abbreviation(self, tok: str, after_shorthand: bool = False) -> list[dict] | None:
        entries = self.lexicon.abbreviations.get(tok)
        if entries and tok.islower() and (tok in self.lexicon.common_words or tok in _stopwords()):
            # "on" is not o.n. (every night): an everyday word is read as an abbreviation only where radlite's
            # own list or the site's glossary says so ("ca", "fx")
            entries = self._own(entries)
        if entries is None and len(tok) >= 3 and tok[-1] == "s" and tok[:-1].isupper():
            # a plural: "SPNs", "PEs" (before the upper-case reading below: "SENs" is not SENS)
            entries = self.lexicon.abbreviations.get(tok[:-1])
        if entries is None and tok.isalpha() and tok != tok.upper() and len(tok) >= 3:
            # typed in lower or mixed case: "sah" is SAH, "men" is not MEN
            if tok.lower() not in self.lexicon.common_words:
                entries = self.lexicon.abbreviations.get(tok.upper())
                if entries and (tok.islower() or tok.istitle()):
                    # in lower case (or capitalised, "Pop"), only radiology's own readings: "pop" is a word, not POP
                    # (pain on palpation)
                    entries = self._own(entries)
        if entries is None and after_shorthand and re.fullmatch(r"[a-z]{2,6}", tok) and tok not in _stopwords():
            # after clinical shorthand a word in lower case is an abbreviation ("r/o pe", "h/o mi", "s/p cabg", "h/o
            # cva"), in radiology's readings where it has any, else in any unless it is an everyday word ("s/p lap
            # chole": "lap" is no LAP); two letters are read nowhere else ("5 mm", "ms" after a number)
            found = self.lexicon.abbreviations.get(tok.upper(), [])
            everyday = tok in self.lexicon.common_words
            entries = self._own(found) or (found if len(tok) > 2 and not everyday else None)
        return entries

    def _lower_pair(self, words: list[str], j: int) -> bool:
        """Whether `words[j]` is two letters in lower case that may be an abbreviation ("ms brain mri", "ra hand
        xray"): not a stop-word or one of PAIR_WORDS, and not a unit after a number ("90 ms", "6-8 mm"). Everyday
        words count ("pe", "ra", "us" are among MedQuAD's): the reading must still find a word of the query that
        points to it."""
        tok = words[j]
        return (
            re.fullmatch(r"[a-z]{2}", tok) is not None
            and tok not in _stopwords()
            and tok not in PAIR_WORDS
            and not (j > 0 and any(c.isdigit() for c in words[j - 1]))
        )

    @staticmethod
    def _own(entries: list[dict]) -> list[dict] | None:
        """The readings from radlite's own list or the site's glossary (None: there are none)."""
        return [e for e in entries if e["source"] in ("radlite", "glossary")] or None

    def _associated(self, texts: list[str], context: set[str]) -> list[set[str]]:
        """For each of `texts` (an abbreviation's expansions), the query's other words that go with it in the indexed
        collection: used by at least two of the passages that use every word of it, and by a share of them over
        LIFT times their share of all passages ("lytic" goes with multiple myeloma, not with medial meniscus).
        Words used by more than COMMON_SHARE of the passages say nothing and are not read; a hyphenated word counts
        by its parts ("lytic-appearing": lytic, appear); each word's passages are read once for all the
        expansions (at most sixteen), and each expansion's passages once per Expander. Empty sets without an
        index."""
        if self.postings is None or not texts:
            return [set() for _ in texts]
        n = self.postings.n_passages
        most = int(COMMON_SHARE * n)
        flags = np.zeros(n, dtype=np.uint16)  # bit k: the passage uses every word of texts[k]
        sizes, owns = [], []
        for k, text in enumerate(texts[:16]):
            docs = self._passages_of(text)
            owns.append(set(tokenize(text)))
            sizes.append(len(docs))
            if len(docs) >= 2:
                flags[docs] |= np.uint16(1 << k)
        found_with: list[set[str]] = [set() for _ in texts]
        for stem in context:
            if "-" in stem:
                continue  # its parts are in the context too
            found = self.postings.postings(stem, most)
            if found is None or not len(found):
                continue
            marks = flags[found]
            for k, size in enumerate(sizes):
                if size < 2 or stem in owns[k]:
                    continue
                both = int(np.count_nonzero(marks & np.uint16(1 << k)))
                if both >= 2 and both / size > LIFT * len(found) / n:
                    found_with[k].add(stem)
        return found_with

    def _passages_of(self, text: str) -> np.ndarray:
        """The passages that use every word of `text` (ascending), remembered: they do not depend on the query."""
        cached = self._passages.get(text)
        if cached is not None:
            return cached
        lists = sorted((self.postings.postings(stem) for stem in set(tokenize(text))), key=len)
        docs = lists[0] if lists else np.zeros(0, dtype=np.int64)
        for found in lists[1:]:  # the rarest word's passages, kept where each other word is used too
            if not len(docs):
                break
            at = np.minimum(np.searchsorted(found, docs), len(found) - 1)
            docs = docs[found[at] == docs]
        if len(self._passages) < 100_000:
            self._passages[text] = docs
        return docs

    def _british(self, word: str) -> list[str]:
        """The British spellings of the US word `word` (lower case), a plural's too ("tumors": tumours)."""
        forms = self.lexicon.british.get(word)
        if forms is None and len(word) > 4 and word.endswith("s"):
            forms = [f + "s" for f in self.lexicon.british.get(word[:-1], ())]
        return forms or []

    def _same_word(self, us: str | None, uk: str) -> float:
        """BM25's weight for `uk`, a British spelling of the typed stem `us`: the ratio of their IDFs, so that a
        passage that spells the word the British way scores as one spelling it the US way (the rarer spelling's
        higher IDF would put it above); 1 without postings or where the collection never uses `us`."""
        if self.postings is None or us is None:
            return 1.0
        n = self.postings.n_passages
        df_us, df_uk = len(self.postings.postings(us)), len(self.postings.postings(uk))
        if not df_us or not df_uk:
            return 1.0
        return round(min(1.0, float(lucene_idf(n, df_us) / lucene_idf(n, df_uk))), 3)

    def _present(self, text: str) -> float:
        stems = tokenize(text)
        if self.vocab is None or not stems:
            return 1.0
        return sum(s in self.vocab for s in stems) / len(stems)

    @staticmethod
    def _grade(words: list[str], j: int) -> bool:
        """Whether words[j] is a roman-numeral grade ("grade IV VUR", "Bell IIB", "type II or III"), not an
        abbreviation (IV: intravenous)."""
        if not ROMAN.match(words[j]) or j == 0:
            return False
        before = words[j - 1]
        # a chain must start from a grading word: "type II or IV", but not "IA or IV thrombolysis"
        return before in GRADED or (before in ("or", "and", "to") and j >= 2 and Expander._grade(words, j - 2))

    def _turned(self, words: list[str], around: Around = (None, None, None)) -> list[str] | None:
        """The terms of two typed words with a participle before the noun written as the noun after it, or the other
        way, where the lexicon has that phrase: "swollen brain" finds "brain swelling", "appendix rupture" finds
        "ruptured appendix"; a participle or past tense after the noun too, as a sentence says it ("appendix
        ruptured", "knee swelled": a swollen knee; "rotator cuff torn"), unless the participle starts a lexicon phrase
        with the word after it ("liver enlarged spleen": an enlarged spleen) and that word is not said to be normal
        ("spleen enlarged liver normal": an enlarged spleen), or the noun is inside something else ("screw in hip
        broke"). `around`: the query's words before and after `words`, and the one after that (None at its ends)."""
        before, then, beyond = around
        *nouns, last = words
        first = " ".join(nouns)
        after = PAST.get(last, last)
        if (
            after in PARTICIPLES
            and not set(nouns) & PARTICIPLES.keys()
            and before not in INSIDE
            and not (
                then is not None
                and {f"{after} {then}", f"{last} {then}"} & self._starts
                and beyond not in STATED_NORMAL
            )
        ):
            terms = self._first_phrase(
                key
                for noun in (first, *_singulars(first))
                for key in (f"{after} {noun}", *(f"{noun} {form}" for form in PARTICIPLES[after]))
            )
            if terms:
                return terms
        if len(words) > 2:
            return None
        if first in PARTICIPLES:
            terms = self._first_phrase(
                f"{noun} {form}" for noun in (last, *_singulars(last)) for form in PARTICIPLES[first]
            )
            if terms:
                return terms
        return self._first_phrase(f"{form} {first}" for form in NOMINALS.get(last, ()))

    def _first_phrase(self, keys) -> list[str] | None:
        """The terms of the first of `keys` (phrase keys, tried in order) that the lexicon has; None if none."""
        return next((terms for key in keys if (terms := self.lexicon.phrases.get(key))), None)

    def _within(self, words: list[str]) -> list[str] | None:
        """The terms of a phrase written with a shorter phrase of two words or more in it that the lexicon reads as one
        term, where the lexicon has the phrase with that term instead: "throwing up blood" is "vomiting blood"
        (hematemesis), "main bile tube" "main bile duct" (common bile duct). Only at the start or the end."""
        phrases = self.lexicon.phrases
        for k in range(2, len(words)):  # the shorter phrase's words; at least one word is left
            for part, rest, front in ((words[:k], words[k:], True), (words[-k:], words[:-k], False)):
                terms = phrases.get(" ".join(part))
                if terms and len(terms) == 1:
                    found = phrases.get(" ".join([terms[0], *rest] if front else [*rest, terms[0]]))
                    if found:
                        return found
        return None

    def _phrase(self, key: str, around: Around = (None, None, None)) -> list[str] | None:
        """The terms the lexicon maps the phrase `key` to, or, where it has no entry and its last word is plural,
        those of its singular ("slipped discs" finds "slipped disc"): the lexicon's phrases are matched without
        stemming. A hyphen or an apostrophe does not tell phrases apart, either way ("tree in bud sign" finds
        "tree-in-bud sign", "pins-and-needles" finds "pins and needles"), nor do articles and possessive pronouns
        ("blood in my urine" finds "blood in the urine"). `around`: the query's words before and after the phrase and
        the one after that (None at its ends), which a participle after its noun (_turned) and a lay phrase inside a
        phrase (_within) read."""
        for candidate in dict.fromkeys((key, *_singulars(key), _irregular(key))):
            terms = self.lexicon.phrases.get(candidate)
            if terms is None:
                terms = self._folded.get(_fold(candidate)) or self.lexicon.phrases.get(_fold(candidate))
            words = candidate.split()
            if terms is None and words[0] not in DETERMINERS and words[-1] not in DETERMINERS:
                terms = self._bare.get(_bare(candidate))  # inside only: "a heart attack" is "a" + "heart attack"
            if terms is not None:
                return _besides(terms, candidate)
        words = key.split()
        if 2 <= len(words) <= 4:
            turned = self._turned(words, around)
            if turned:
                return _besides(turned, key)
        if len(words) == 3 and words[2] == "up" and PAST.get(words[1], words[1]) in PARTICIPLES:
            # "knee swelled up", "nose blocked up"
            return self._phrase(" ".join(words[:2]), (around[0], "up", around[1]))
        if len(words) > 2 and (around[1] is None or around[1] in PUNCT or around[1] in AFTER_PHRASE):
            within = self._within(words)
            if within:
                return _besides(within, key)
        if len(words) > 2 and any(w in SIDES for w in words[1:-1]):
            # a side inside a phrase does not tell it apart ("blunting of the left CP angle"); at its edge it is a word
            # of its own ("left CP angle" is "left" and "CP angle"). Only in what is typed: the lexicon's own keys keep
            # theirs, so that "enlarged right atrium" is never read as an entry on the left one
            return self._phrase(" ".join([words[0], *(w for w in words[1:-1] if w not in SIDES), words[-1]]), around)
        if len(words) > 1 and any(w in self._american for w in words):
            # a phrase with British spellings is the US one ("hypoxic ischaemic encephalopathy")
            return self._phrase(" ".join(self._american.get(w, w) for w in words), around)
        if len(words) == 1 and len(key) >= 7 and key.isalpha():
            # a compound written closed that the lexicon writes open ("bellybutton": belly button; "clubfeet")
            forms = (key, *_singulars(key), _irregular(key))
            spaced = next((self._closed[f] for f in forms if f in self._closed), None)
            if spaced is not None:
                # not a term that is the word itself ("gallbladder" finds "gall bladder": gallbladder)
                terms = [t for t in self._phrase(spaced) or [] if _fold(phrase_key(t)).replace(" ", "") != key]
                return terms or None
        return None

    @cached_property
    def _closed(self) -> dict[str, str]:
        """The lexicon's phrases of two words of three letters or more, by the two written as one (the first wins):
        "bellybutton" -> "belly button"."""
        out: dict[str, str] = {}
        for key in self.lexicon.phrases:
            parts = key.split()
            if len(parts) == 2 and all(len(w) >= 3 and w.isalpha() for w in parts):
                out.setdefault("".join(parts), key)
        return out

    @cached_property
    def _starts(self) -> set[str]:
        """The first two words of the lexicon's phrases of two words or more ("enlarged spleen", "swollen lymph")."""
        return {" ".join(key.split()[:2]) for key in self.lexicon.phrases if " " in key}

    @cached_property
    def _state_terms(self) -> set[str]:
        """The first two words of the lexicon's terms that start with a state of the patient ("postmenopausal
        bleeding")."""
        terms = {t for ts in self.lexicon.phrases.values() for t in ts}
        keys = (phrase_key(t) for t in terms if t.split(" ", 1)[0].lower() in PATIENT_STATES)
        return {" ".join(k.split()[:2]) for k in keys if " " in k}

    @cached_property
    def _american(self) -> dict[str, str]:
        """Each British spelling the lexicon knows, to its US word ("haemorrhage" -> "hemorrhage")."""
        return {uk: us for us, forms in self.lexicon.british.items() for uk in forms}

    @cached_property
    def _bare(self) -> dict[str, list[str]]:
        """The lexicon's phrases of two words or more by their key without articles and possessive pronouns (the
        first wins): "blood in urine" and "blood in my urine" find "blood in the urine"."""
        out: dict[str, list[str]] = {}
        for key, terms in self.lexicon.phrases.items():
            bare = _bare(key)
            if len(bare.split()) >= 2:
                out.setdefault(bare, terms)
        return out

    @cached_property
    def _folded(self) -> dict[str, list[str]]:
        """The lexicon's phrases that hold a hyphen or an apostrophe, by their key without them (the first wins)."""
        out: dict[str, list[str]] = {}
        for key, terms in self.lexicon.phrases.items():
            if "-" in key or "'" in key:
                out.setdefault(_fold(key), terms)
        return out

    def _names(self, text: str) -> set[str]:
        """A term and the terms the lexicon maps it to (its synonyms), as phrase keys."""
        key = phrase_key(text)
        return {key, *(phrase_key(t) for t in self.lexicon.phrases.get(key, []))}

    @staticmethod
    def _match(words: list[str], i: int, cues: list[str]) -> str | None:
        for cue in cues:
            parts = cue.split()
            if words[i : i + len(parts)] == parts:
                return cue
        return None

    def _negation(
        self, toks: list[_Token], named: set[int] = frozenset()
    ) -> tuple[set[int], set[int], list[dict], list[dict]]:
        """(negated token positions, cue positions, negated spans, uncertain spans); a word at a position in `named`
        (a lexicon phrase's) is never a cue."""
        words = [t.low for t in toks]
        negated, cues, neg_spans, unc_spans = set(), set(), [], []

        def stop(j: int) -> bool:  # a scope ends at punctuation, a terminator, or the next cue
            return (
                words[j] in PUNCT
                or words[j] in TERMINATORS
                or any(self._match(words, j, c) for c in (PRE_NEGATION, POST_NEGATION, UNCERTAIN))
            )

        def before(i: int) -> list[int]:  # the scope of a cue at `i` that reads back ("X not seen"), ascending
            return sorted(self._scope(range(i - 1, max(-1, i - 1 - POST_SCOPE), -1), stop))

        i = 0
        while i < len(words):
            hedge = self._match(words, i, HEDGES)
            if hedge and i not in named:
                scope = before(i)
                if scope:
                    unc_spans.append({"cue": hedge, "text": " ".join(toks[j].text for j in scope)})
                i += len(hedge.split())
                continue
            uncertain = self._match(words, i, UNCERTAIN)
            pre = self._match(words, i, PRE_NEGATION)
            post = self._match(words, i, POST_NEGATION)
            if pre and post and len(post.split()) > len(pre.split()):
                pre = None  # the longer cue wins: "IDC not seen on US" negates IDC, not what follows
            cue = uncertain or pre or post
            if cue is None or i in named or (cue in ACTION_CUES and not post and self._action(words, i)):
                i += 1
                continue
            n = len(cue.split())
            after = i + n
            forward = after < len(words) and not stop(after) and not (post and words[after] in CLOSES_BEFORE)
            if uncertain:
                scope = self._scope(range(after, min(len(words), after + PRE_SCOPE)), stop)
                if scope:
                    unc_spans.append({"cue": cue, "text": " ".join(toks[j].text for j in scope)})
            elif (pre and forward and pre in ATTRIBUTIVE) or (
                post in LABELS and not pre and forward and words[after] not in PERSONS
            ):
                i = after  # "absent ureteric jet", "HER2 negative breast cancer": the finding or a kind of it
                continue
            elif pre in ("absence of", "absent") and i > 0 and words[i - 1] == "congenital":
                i = after  # "congenital absence of the pericardium" is the anomaly
                continue
            elif pre and (forward or not post):
                scope = self._scope(range(after, min(len(words), after + PRE_SCOPE)), stop)
                if (
                    scope
                    and scope[-1] + 1 < len(words)
                    and words[scope[-1] + 1] == ","
                    and not all(words[j] in PROTOCOL for j in scope)  # "CT without contrast, appendicitis or stone"
                ):
                    scope += self._listed(words, scope[-1] + 1, stop)
                if scope and words[scope[0]] in PROTOCOL:  # "CT without contrast stroke": what is sought follows
                    n_protocol = next(
                        (k for k, j in enumerate(scope) if words[j] not in PROTOCOL and words[j] not in ITEM_BREAKS),
                        len(scope),
                    )
                    scope = scope[:n_protocol]
                if cue == "not" and len(scope) > 1 and scope[0] == after and self._predicate(words, after):
                    scope = scope[:1]
                scope = self._without_signs(words, scope, forward=True)
                if not scope:  # a cue that negates nothing (or only a normal sign) stays in the query as typed
                    i = after
                    continue
                negated.update(scope)
                cues.update(range(i, after))
                text = re.sub(r"\s+(?=,)", "", " ".join(toks[j].text for j in scope))
                neg_spans.append({"cue": cue, "text": re.sub(r",(\s*,)+", ",", text)})
            else:
                scope = self._without_signs(words, before(i))
                if not scope:  # as above
                    i = after
                    continue
                negated.update(scope)
                cues.update(range(i, after))
                neg_spans.append({"cue": cue, "text": " ".join(toks[j].text for j in scope)})
            i = after
        return negated, cues, neg_spans, unc_spans

    @staticmethod
    def _without_signs(words: list[str], scope: list[int], forward: bool = False) -> list[int]:
        """A negated scope (positions, ascending) less its items that name what the body normally shows
        (NORMAL_SIGNS): their absence is the finding. Items are split at commas and "or"/"and"/"nor"; an item's head is
        its word before its first preposition when the scope follows the cue (`forward`: "no flow in the hepatic
        veins"), else its last word after any "is"/"was" ("the cremasteric reflex is absent"). The connectives left at
        either end go too; [] when nothing else was negated."""

        def joins(j: int) -> bool:  # a comma or "or"/"and"/"nor": between items, part of none
            return words[j] == "," or words[j] in ITEM_BREAKS

        items, item = [], []
        for j in scope:
            if joins(j):
                items.append(item)
                item = []
            else:
                item.append(j)
        items.append(item)
        signs = set()
        for item in items:
            ws = [words[j] for j in item]
            if forward:
                head = next((k for k, w in enumerate(ws) if w in HEAD_ENDS), len(ws)) - 1
            else:
                head = len(ws) - 1
                while head >= 0 and ws[head] in LINKING:
                    head -= 1
            if head >= 0 and ws[head] in NORMAL_SIGNS and not ABNORMAL & set(ws[:head]):
                signs.update(item)
        if not signs:
            return scope
        kept = [j for j in scope if j not in signs]
        while kept and joins(kept[0]):
            kept.pop(0)
        while kept and joins(kept[-1]):
            kept.pop()
        return kept

    def _predicate(self, words: list[str], j: int) -> bool:
        """Whether words[j], after "not", is a state of the patient (PATIENT_STATES: "pregnant", "anticoagulated") that
        "not" negates alone; not where it starts a lexicon phrase or term with the next word ("not postmenopausal
        bleeding") nor where a list goes on from it ("not anticoagulated or thrombocytopenic")."""
        w, nxt = words[j], words[j + 1] if j + 1 < len(words) else ""
        return (
            w in PATIENT_STATES
            and nxt not in ITEM_BREAKS
            and nxt != ","
            and f"{w} {nxt}" not in self._starts
            and f"{w} {nxt}" not in self._state_terms
        )

    def _action(self, words: list[str], i: int) -> bool:
        """Whether the "not" at `i` negates an action (ACTION_CUES), which describes the finding."""
        after = words[i + 1] if i + 1 < len(words) else ""
        if i > 0 and words[i - 1] in AUXILIARIES:
            return True
        return len(after) > 5 and after.endswith("ing") and after not in FINDINGS_ING and self._phrase(after) is None

    @staticmethod
    def _listed(words: list[str], k: int, stop) -> list[int]:
        """The rest of a negated list that goes on past the comma at `k`: "no pneumothorax, effusion or consolidation"
        (at most five items of one to three words, the last after "or"/"nor"); [] when what follows the comma is not
        such a list ("no fracture, mild swelling"). Not after a protocol ("without contrast, ..."), but a list of what
        is sought after a negated finding is read as negated too ("no trauma, SAH or migraine"): the words cannot
        tell them apart."""
        end, last = k, False
        while end < len(words) and (words[end] == "," or not stop(end)):
            if words[end] == "," and last:
                break  # the item after "or" was the last: "no PE, pneumonia or dissection, chest pain"
            last = last or words[end] in ("or", "nor")
            end += 1
        span = words[k:end]
        if not any(w in ("or", "nor") for w in span):
            return []
        items, item = [], []
        for w in span + [","]:
            if w in (",", "or", "nor"):
                if item:
                    items.append(item)
                item = []
            else:
                item.append(w)
        if not 1 <= len(items) <= 5 or any(len(i) > 3 for i in items) or span[-1] in (",", "or", "nor"):
            return []
        return list(range(k, end))

    @staticmethod
    def _scope(positions, stop) -> list[int]:
        out = []
        for j in positions:
            if stop(j):
                break
            out.append(j)
        return out

    # -- the whole query -------------------------------------------------------------------------
    def expand(self, query: str) -> Expansion:
        toks = [_Token(m.group(), m.start(), m.end()) for m in TOKEN.finditer(query)]
        # phrases first (longest match), then negation outside them ("triple negative breast cancer", "absent
        # swallow tail sign" are names, not negations), then abbreviations on the tokens no phrase took
        phrase_at: dict[int, tuple[int, list[str]]] = {}
        taken: set[int] = set()
        words = [t.low for t in toks]
        i = 0
        while i < len(toks):
            if i > 0 and (words[i - 1] == "non" or (words[i - 1] in ("no", "without", "w/o") and words[i] in PROTOCOL)):
                # "non contrast CT", "no contrast CT" are not "contrast CT": written apart, it turns what follows
                i += 1
                continue
            for n in range(min(self.longest, len(toks) - i), 0, -1):
                span = range(i, i + n)
                if any(words[j] in PUNCT or words[j] == "#" for j in span):
                    continue
                around = tuple(words[k] if 0 <= k < len(words) else None for k in (i - 1, i + n, i + n + 1))
                if n > 1 and _described_before(words[i], around):
                    continue  # "kidney enlarged spleen normal": the spleen is normal, not enlarged
                terms = self._phrase(phrase_key(" ".join(toks[j].text for j in span)), around)
                if terms:
                    phrase_at[i] = (n, terms)
                    taken.update(span)
                    break
            i += n if i in phrase_at else 1
        negated, cues, neg_spans, unc_spans = self._negation(toks, taken)
        if not any(tokenize(t.text) for j, t in enumerate(toks) if j not in negated | cues):
            # nothing but negation ("no pneumothorax"): the user is looking for that statement, as typed
            negated, cues, neg_spans = set(), set(), []
        dropped = negated | cues
        abbr_at = {}
        tentative: set[int] = set()  # two letters in lower case: read only where another query word points to a reading
        for j, t in enumerate(toks):
            if j in taken or t.text in PUNCT or j in cues or self._grade(words, j):
                continue
            entries = self._abbreviation(t.text, after_shorthand=j > 0 and words[j - 1] in SHORTHAND)
            if entries is None and t.text.islower() and self._lower_pair(words, j):
                entries = self._own(self.lexicon.abbreviations.get(t.text.upper(), []))
                if entries:
                    tentative.add(j)
            if entries:
                abbr_at[j] = entries
        kept_stems = Counter(tokenize(" ".join(t.text for j, t in enumerate(toks) if j not in dropped)))
        # context, word by word: each kept word's stems with those of its reading where it is certain (an unambiguous
        # abbreviation), a phrase's words with its terms' ("MRI" and magnetic resonance imaging are one word of the
        # query, not three, when they point to a reading)
        units: dict[int, set[str]] = {j: set(tokenize(t.text)) for j, t in enumerate(toks) if j not in dropped}
        for j, entries in abbr_at.items():
            if len(entries) == 1 and j not in dropped:
                units[j] |= set(tokenize(entries[0]["text"]))
        for j, (n, terms) in phrase_at.items():
            if j not in dropped:
                units[j] = set().union(*(units.pop(k, set()) for k in range(j, j + n)), *map(tokenize, terms))
        abbreviations, phrases = [], []
        chosen: dict[int, list[dict]] = {}
        for j, entries in abbr_at.items():
            ctx = set().union(*(unit for m, unit in units.items() if m != j))  # the rest of the query
            best: dict[str, float] = {}  # each reading's text -> its score
            readings: list[tuple[str, str, set[str]]] = []  # (text, source, names)
            associated = self._associated([e["text"] for e in entries], ctx) if len(entries) > 1 else None
            # the most query words that point to a reading the collection never uses, and to one it uses
            absent_hits, present_hits = 0, 0
            for k, e in enumerate(entries):
                pointers = self.lexicon.context.get(e["text"].lower()) or tokenize(e["text"])
                # each other word of the query that points to it (by its context words or by the collection) counts once
                pool = set(pointers) | (associated[k] if associated else set())
                hits = sum(1 for m, unit in units.items() if m != j and unit & pool)
                present = self._present(e["text"])
                if present == 0:
                    absent_hits = max(absent_hits, hits)
                    continue  # the collection never uses its words
                present_hits = max(present_hits, hits)
                if j in tentative and hits == 0:
                    continue  # "ms" is multiple sclerosis beside "plaques"; in "ms brain" nothing points to a reading
                score = math.log(max(e["prior"], 1e-3)) + CONTEXT_GAIN * hits + math.log(present)
                names = self._names(e["text"])
                # two sources' names for one thing (ARDS: radlite's "acute", Disease Ontology's "adult respiratory
                # distress syndrome") are one reading, under the first's name, with the better score
                same = next((t for t, src, n in readings if src != e["source"] and n & names), None)
                if same is None:
                    readings.append((e["text"], e["source"], names))
                    best[e["text"]] = score
                else:
                    best[same] = max(best[same], score)
            scored = list(best.items())
            if not scored or absent_hits > present_hits:
                # nothing to read, or the query points to a reading this collection never writes ("HD pt on dialysis"
                # where no passage says hemodialysis): the typed words say it better than another reading would
                continue
            top = max(s for _, s in scored)
            weights = [(text, math.exp(s - top)) for text, s in scored]
            total = sum(w for _, w in weights)
            kept = [(text, w / total) for text, w in weights if w / total >= MIN_SHARE]
            norm = sum(w for _, w in kept)
            expansions = [{"text": text, "weight": round(w / norm, 3)} for text, w in sorted(kept, key=lambda x: -x[1])]
            chosen[j] = expansions
            abbreviations.append({"text": toks[j].text, "expansions": expansions, "negated": j in dropped})
        for j, (n, terms) in phrase_at.items():
            text = " ".join(toks[k].text for k in range(j, j + n))
            phrases.append({"text": text, "terms": terms, "negated": any(k in dropped for k in range(j, j + n))})
        # BM25: the kept words at weight 1, expansions of what is not negated at lower weights
        terms: dict[str, float] = {s: float(c) for s, c in kept_stems.items()}
        for j, expansions in chosen.items():
            if j in dropped:
                continue
            for e in expansions:
                for s in set(tokenize(e["text"])):
                    terms[s] = max(terms.get(s, 0.0), ABBREVIATION_WEIGHT * e["weight"])
        for j, (n, pterms) in phrase_at.items():
            if any(k in dropped for k in range(j, j + n)):
                continue
            for term in pterms:
                for s in set(tokenize(term)):
                    terms[s] = max(terms.get(s, 0.0), PHRASE_WEIGHT / len(pterms))
        # a word's British spellings where the collection uses them ("tumor" finds "tumour"), as much as the word
        if self.vocab is not None:
            for j, t in enumerate(toks):
                for form in self._british(t.low) if j not in dropped else ():
                    stems = [s for s in tokenize(form) if s in self.vocab and s not in terms]
                    if stems:
                        typed = tokenize(t.text)
                        for s in stems:
                            terms[s] = max(terms.get(s, 0.0), self._same_word(typed[0] if typed else None, s))
                        phrases.append({"text": t.text, "terms": [form], "negated": False})
        # each negated span (a run of negated tokens) and the ways of naming it
        negated_items, run = [], []
        for j in [*sorted(negated), None]:
            if j is not None and (toks[j].low in ITEM_BREAKS or j in cues):
                j = None  # "no pneumothorax or effusion": two things; "no ovarian cancer on pathology": one
            if j is not None and toks[j].text not in PUNCT and (not run or j == run[-1] + 1):
                run.append(j)
                continue
            if run and not all(toks[k].low in PROTOCOL or toks[k].low in VAGUE for k in run):
                # what a scan is done without names no passage to push down: "CT without contrast" looks for
                # "Non-contrast CT"
                named = [toks[k].low for k in run if toks[k].low not in VAGUE]
                item = [(frozenset(tokenize(" ".join(named))), 1.0)]
                british = [next(iter(self._british(w)), w) for w in named]
                if british != named:  # "no tumor" pushes a "Tumour" title down too
                    item.append((frozenset(tokenize(" ".join(british))), 1.0))
                for k in run:
                    item += [(frozenset(tokenize(e["text"])), e["weight"]) for e in chosen.get(k, [])]
                for k, (n, pterms) in phrase_at.items():
                    if all(m in run for m in range(k, k + n)):
                        item += [(frozenset(tokenize(t)), 1.0) for t in pterms]
                negated_items.append(item)
            run = [j] if j is not None and toks[j].text not in PUNCT else []
        # the neural models: the text without negated spans, expansions written in after what they expand
        pieces, last = [], 0
        for j, t in enumerate(toks):
            if j in dropped:
                pieces.append(query[last : t.start])
                last = t.end
                continue
            pieces.append(query[last : t.end])
            last = t.end
            if j in chosen and chosen[j][0]["weight"] >= 0.5:
                pieces.append(f" ({chosen[j][0]['text']})")
                if query[t.end : t.end + 1].isalnum():  # "#NOF": "# (fracture) NOF"
                    pieces.append(" ")
            end_of_phrase = next((k for k, (n, _) in phrase_at.items() if k + n - 1 == j), None)
            if end_of_phrase is not None and not any(k in dropped for k in range(end_of_phrase, j + 1)):
                pieces.append(f" ({phrase_at[end_of_phrase][1][0]})")
        pieces.append(query[last:])
        neural = re.sub(r"\s+([,;:.!?)])", r"\1", re.sub(r"\s+", " ", "".join(pieces)))
        neural = re.sub(r"^[\s,;:.]+|(?<=[,;:])\s*[,;:]+|[\s,;:]+$", "", neural).strip()
        expansion = Expansion(
            query, neural or query, terms, abbreviations, phrases, neg_spans, unc_spans, negated_items
        )
        if not expansion.changed:
            expansion.bm25_terms, expansion.neural_text = None, query
        return expansion
