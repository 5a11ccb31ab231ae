"""Query understanding (radlite.terms): abbreviations with their ambiguity, phrases, negation scope, the site
glossary, the collection filter, and the lexicon build."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from radlite.errors import CorpusError
from radlite.retrievers.bm25 import tokenize
from radlite.terms.expand import Expander
from radlite.terms.lexicon import load_lexicon, read_glossary

SHARED = Path(os.environ.get("RADLITE_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))


@pytest.fixture(scope="module")
def expander():
    return Expander(load_lexicon())


def top(expansion, abbreviation):
    a = next(a for a in expansion.abbreviations if a["text"] == abbreviation)
    return a["expansions"][0]["text"], a["expansions"][0]["weight"]


def assert_first_readings(expander, cases):
    """Each (query, abbreviation, meant): the abbreviation's first reading in the query is `meant`."""
    for query, abbreviation, meant in cases:
        assert top(expander.expand(query), abbreviation)[0] == meant, query


def test_an_abbreviation_is_expanded_for_each_retriever(expander):
    e = expander.expand("SAH on noncontrast CT head")
    assert top(e, "SAH") == ("subarachnoid hemorrhage", 1.0)
    assert e.neural_text.startswith("SAH (subarachnoid hemorrhage) on noncontrast CT (computed tomography) head")
    # BM25: the typed words at 1, the expansion at 0.6 x its weight
    assert e.bm25_terms["sah"] == 1.0 and e.bm25_terms["subarachnoid"] == pytest.approx(0.6)
    assert "night" not in e.bm25_terms  # "on" is a word here, not o.n. (every night)


def test_ambiguity_is_settled_by_the_rest_of_the_query(expander):
    assert top(expander.expand("PE on CTPA"), "PE")[0] == "pulmonary embolism"
    text, weight = top(expander.expand("PE with pleural fluid and blunted costophrenic angle"), "PE")
    assert text == "pleural effusion" and weight > 0.7
    both = next(a for a in expander.expand("PE").abbreviations if a["text"] == "PE")["expansions"]
    assert [x["text"] for x in both][:2] == ["pulmonary embolism", "pleural effusion"]
    assert sum(x["weight"] for x in both) == pytest.approx(1.0, abs=1e-3)


def test_radiology_context_settles_what_public_text_gets_wrong(expander):
    # public text puts "chest" near pleural effusion and "view" (under a microscope) near pilocytic astrocytoma; the
    # hand-written radiology context (radiology_context.tsv) says what a radiologist's query puts near each reading
    assert_first_readings(
        expander,
        (
            ("CTA chest for PE", "PE", "pulmonary embolism"),
            ("PA and lateral views", "PA", "posteroanterior"),
            ("PA dilation", "PA", "pulmonary artery"),
            ("MS rheumatic heart disease echo", "MS", "mitral stenosis"),
            ("AS with syncope", "AS", "aortic stenosis"),
            ("cervical LAD in child", "LAD", "lymphadenopathy"),
            ("LAD stenosis CT coronary angiogram", "LAD", "left anterior descending artery"),
            ("3D TOF MRA of the circle of Willis", "TOF", "time of flight"),
        ),
    )


def test_the_hand_written_context_is_read_stemmed_and_checked(tmp_path):
    from radlite.terms.build import own_context

    path = tmp_path / "context.tsv"
    path.write_text(
        "# comment\nPulmonary embolism\tCTPA|filling|d-dimer|follow-up\npulmonary embolism\tfilling|saddle\n"
    )
    # a hyphenated word counts whole and by its parts of four letters or more ("up" is not pulmonary embolism's)
    assert own_context(path) == {
        "pulmonary embolism": ["ctpa", "fill", "d-dimer", "dimer", "follow-up", "follow", "saddl"]
    }
    # every expansion the shipped file names is an ambiguous reading the lexicon holds (a typo would be ignored)
    assert set(own_context()) <= set(load_lexicon().context)
    path.write_text("pulmonary embolism ctpa\n")
    with pytest.raises(ValueError, match="expected 'expansion<TAB>word"):
        own_context(path)


def test_lower_case_words_are_abbreviations_only_when_they_are_not_everyday_words(expander):
    assert top(expander.expand("sah"), "sah")[0] == "subarachnoid hemorrhage"
    assert expander.expand("men with chest pain hit by a car").abbreviations == []
    # typed in lower case, only radiology's own readings count: "pop" is a word, not POP (pain on palpation)
    assert expander.expand("heard a pop when twisting the knee").abbreviations == []
    assert expander.expand("Pop when twisting the knee").abbreviations == []  # capitalised at the start
    assert top(expander.expand("heard a POP"), "POP")[0] == "pain on palpation"  # as a clinician writes it


def test_british_spellings_are_read_as_their_us_forms(expander):
    from radlite.terms.build import british_forms

    assert british_forms("hemorrhage") == {"haemorrhage"}
    assert british_forms("ischemic") == {"ischaemic"} and british_forms("hyperemia") == {"hyperaemia"}
    assert british_forms("tumor") == {"tumour"} and british_forms("catheterization") == {"catheterisation"}
    # not where the US part is no such part: hemi- is half, "systemic" and "epidemic" are no -emia
    assert british_forms("hemithorax") == british_forms("systemic") == british_forms("epidemic") == set()
    # short stems and parts inside a word; never half-British forms; not what British English spells the same
    assert british_forms("anemia") == {"anaemia"} and british_forms("uremic") == {"uraemic"}
    assert british_forms("lymphedema") == {"lymphoedema"} and british_forms("paresthesia") == {"paraesthesia"}
    assert british_forms("hemoglobinemia") == {"haemoglobinaemia"} and british_forms("fecal") == {"faecal"}
    assert british_forms("hyperemesis") == british_forms("gray") == british_forms("chemotherapy") == set()
    # a word the terms do not use but public medical text does, and a phrase written with British words
    assert expander.expand("oedematous pancreas").phrases[0]["terms"] == ["edematous"]
    assert expander.expand("hypoxic ischaemic encephalopathy").phrases[0]["text"] == "hypoxic ischaemic encephalopathy"
    e = expander.expand("subarachnoid haemorrhage in a paediatric patient")
    assert e.bm25_terms["hemorrhag"] == 1.0 and e.bm25_terms["pediatr"] == 1.0
    assert "haemorrhage (hemorrhage)" in e.neural_text


def test_bm25_looks_for_a_us_words_british_spelling_where_the_collection_uses_it():
    lexicon = load_lexicon()
    british = Expander(lexicon, vocab={"tumour", "tumor", "brain", "haemorrhag"})
    e = british.expand("brain tumor, no hemorrhage")
    # as much as the typed word; not for what is negated
    assert e.bm25_terms["tumour"] == e.bm25_terms["tumor"] == 1.0 and "haemorrhag" not in e.bm25_terms
    assert {"text": "tumor", "terms": ["tumour"], "negated": False} in e.phrases  # shown with the other readings
    assert british.expand("brain tumors").bm25_terms["tumour"] == 1.0  # a plural too
    # what is negated is pushed down however it is spelled
    assert british.expand("brain tumor, no hemorrhage").about_negated("Subdural haemorrhage") == 1.0
    us = Expander(lexicon, vocab={"tumor", "brain", "hemorrhag"})  # a collection that never writes "tumour"
    assert "tumour" not in (us.expand("brain tumor").bm25_terms or {})


def test_a_british_spelling_scores_as_the_us_one_would():
    """100 passages, 40 write "tumor", 4 "tumour". Lucene's IDF: ln(1 + 60.5 / 40.5) = 0.9138 and ln(1 + 96.5 /
    4.5) = 3.1111; "tumour" weighs 0.9138 / 3.1111 = 0.294, so that a passage that spells it the rarer way does
    not outscore one that spells it as typed."""
    used = {"tumor": range(0, 40), "tumour": range(50, 54), "brain": range(0, 10)}
    x = Expander(load_lexicon(), vocab=set(used), postings=FakePostings(100, used))
    assert x.expand("brain tumor").bm25_terms["tumour"] == pytest.approx(0.294)


def test_two_letters_in_lower_case_are_an_abbreviation_after_shorthand_or_beside_a_word_for_a_reading(expander):
    assert top(expander.expand("ct chest r/o pe"), "pe")[0] == "pulmonary embolism"
    assert top(expander.expand("h/o mi, new wall motion abnormality"), "mi")[0] == "myocardial infarction"
    assert top(expander.expand("? ms, periventricular lesions"), "ms")[0] == "multiple sclerosis"
    # three letters or more after shorthand take any reading, not only radiology's own ("cabg" alone is not read)
    assert top(expander.expand("s/p cabg, sternal wires"), "cabg")[0] == "coronary artery bypass graft surgery"
    assert expander.expand("cabg").abbreviations == []
    # elsewhere two lower-case letters are a word or a unit, not an abbreviation
    assert not {"ms", "pe"} & {a["text"] for a in expander.expand("TE 80 ms, pe class").abbreviations}
    assert [a["text"] for a in expander.expand("r/o on").abbreviations] == ["r/o"]  # a stopword stays a word
    # without shorthand, only where another word of the query points to one of radiology's readings
    assert_first_readings(
        expander,
        [
            ("mri for ms plaques", "ms", "multiple sclerosis"),
            ("ms on echo, mitral valve area", "ms", "mitral stenosis"),
            ("ra hand erosions", "ra", "rheumatoid arthritis"),
            ("pe ctpa filling defect", "pe", "pulmonary embolism"),
            ("large pe layering in dependent pleural space", "pe", "pleural effusion"),
            ("mm lytic lesions skull", "mm", "multiple myeloma"),
        ],
    )
    words = ("ms brain", "pe class", "tell us about ct", "lytic lesion vs mets", "6-8 mm lytic lesion", "eg skull")
    for query in words:
        # nothing points to a reading; a word ("us", "vs" is versus, not vestibular schwannoma); a unit after a number
        assert not {"ms", "pe", "us", "vs", "mm", "eg"} & {a["text"] for a in expander.expand(query).abbreviations}
    assert "Ms" not in {a["text"] for a in expander.expand("Ms Jones, mitral valve").abbreviations}


def test_a_hedge_before_the_finding_marks_it_uncertain_and_keeps_it(expander):
    for query, cue in (("cannot exclude small PE", "cannot exclude"), ("likely haemangioma, liver", "likely")):
        e = expander.expand(query)
        assert [u["cue"] for u in e.uncertain] == [cue] and not e.negated
    assert "PE" in expander.expand("cannot exclude small PE").neural_text
    # British shorthand: "query" is "?"
    e = expander.expand("query scaphoid fracture, normal x-ray")
    assert e.uncertain == [{"cue": "query", "text": "scaphoid fracture"}] and not e.negated


def test_hash_is_british_shorthand_for_a_fracture(expander):
    # before or after a word; before a number it is one
    assert top(expander.expand("# distal radius child"), "#") == ("fracture", 1.0)
    assert expander.expand("scaphoid #, no displacement").neural_text == "scaphoid # (fracture)"
    assert expander.expand("#NOF elderly fall").neural_text.startswith("# (fracture) NOF")
    assert all(expander.expand(q).abbreviations == [] for q in ("issue #42", "#1 cause of stroke"))


def test_a_phrase_is_found_written_another_way(expander):
    # a compound written closed finds the phrase written open, an irregular plural its singular
    assert expander.expand("lump near my bellybutton").phrases[-1]["terms"] == ["umbilicus"]
    assert expander.expand("club feet on ultrasound").phrases[0]["terms"] == ["congenital talipes equinovarus"]
    assert expander.expand("clubfeet on ultrasound").phrases[0]["terms"] == ["congenital talipes equinovarus"]
    assert expander.expand("gallbladder wall").phrases == []  # "gall bladder" names the word itself
    # "CP angle" is cerebellopontine, blunted it is costophrenic
    assert expander.expand("left CP angle blunting on CXR").phrases[0]["terms"] == ["costophrenic angle blunting"]
    assert expander.expand("CP angle mass on MRI").phrases[0]["terms"] == ["cerebellopontine angle"]
    # a participle before the noun is the noun after it, and back: "swollen brain" finds "brain swelling"
    assert expander.expand("ct shows a swollen brain after cardiac arrest").phrases[0]["terms"][0] == "cerebral edema"
    assert expander.expand("appendix rupture on ct").phrases[0]["terms"] == ["perforated appendicitis"]
    assert expander.expand("swollen brain").phrases[0]["text"] == "swollen brain"
    # and a participle or past tense after the noun, as a sentence says it ("up" and all)
    assert expander.expand("appendix ruptured on ct").phrases[0]["terms"] == ["perforated appendicitis"]
    knee = expander.expand("my knee swelled up after a fall").phrases[0]
    assert knee["text"] == "knee swelled up" and knee["terms"][0] == "knee joint effusion"
    assert expander.expand("heart enlarged on cxr").phrases[0]["terms"] == ["cardiomegaly"]
    assert expander.expand("swollen enlarged").phrases == []  # two participles are no noun and its state
    # but where it starts a phrase with the next word, it goes with that (an enlarged spleen, not an enlarged liver);
    # a noun of several words is read whole, and a noun inside something else is not what broke
    assert [p["terms"][0] for p in expander.expand("liver enlarged spleen").phrases] == ["splenomegaly"]
    # unless that noun is said to be normal: in "spleen enlarged liver normal" the liver is not enlarged
    assert [p["terms"][0] for p in expander.expand("spleen enlarged liver normal").phrases] == ["splenomegaly"]
    assert [p["terms"][0] for p in expander.expand("liver enlarged spleen unremarkable").phrases] == ["hepatomegaly"]
    # where the first noun has no phrase with it, the second's is not read either; after a lead-in word it is
    assert expander.expand("kidney enlarged spleen normal").phrases == []
    assert expander.expand("with enlarged spleen normal liver").phrases[0]["terms"] == ["splenomegaly"]
    assert expander.expand("knee mri ligament torn meniscus").phrases[0]["terms"] == ["meniscal tear"]
    assert expander.expand("heart enlarged lungs clear").phrases[0]["terms"] == ["cardiomegaly"]
    assert expander.expand("rotator cuff torn").phrases[0]["terms"] == ["rotator cuff tear"]
    assert expander.expand("screw in hip broke").phrases == []
    assert expander.expand("nerve pinched in neck").phrases[0]["terms"][0] == "radiculopathy"  # no noun of its own
    # a lay phrase inside a longer one, where the lexicon has the longer one with its term: "throwing up" is vomiting
    assert expander.expand("throwing up blood after drinking").phrases[0] == {
        "text": "throwing up blood",
        "terms": ["hematemesis"],
        "negated": False,
    }
    assert expander.expand("throwing up after drinking").phrases[0]["terms"] == ["vomiting"]
    # not where the phrase goes on into another word: the blood of "blood thinner" is not what is thrown up
    thinner = expander.expand("throwing up blood thinner").phrases
    assert [p["terms"][0] for p in thinner] == ["vomiting", "anticoagulation"]
    # a side inside a phrase does not tell it apart; at its edge it is a word of its own
    assert expander.expand("blunting of the left CP angle").phrases[0]["terms"] == ["costophrenic angle blunting"]
    assert expander.expand("left CP angle mass").phrases[0] == {
        "text": "CP angle",
        "terms": ["cerebellopontine angle"],
        "negated": False,
    }


def test_two_sources_names_for_one_thing_are_one_reading(expander):
    # radlite's list reads ARDS as acute, the Disease Ontology as adult respiratory distress syndrome, its old name
    # (MeSH maps one to the other): one reading, not two splitting the weight
    e = expander.expand("bilateral consolidation on PEEP, ARDS vs CHF")
    assert next(a for a in e.abbreviations if a["text"] == "ARDS")["expansions"] == [
        {"text": "acute respiratory distress syndrome", "weight": 1.0}
    ]
    # radlite's own alternatives stay apart: both words reach BM25
    assert [x["text"] for x in expander.expand("CXR").abbreviations[0]["expansions"]] == [
        "chest x-ray",
        "chest radiograph",
    ]


def _words(n):
    """n made-up words, each its own stem."""
    return ["zq" + "".join(chr(97 + (i // 26**j) % 26) for j in range(3)) for i in range(n)]


class FakePostings:
    """Which passages use each stem, from a {stem: passages} table (what BM25Index.postings answers)."""

    def __init__(self, n_passages, used):
        self.n_passages, self.used = n_passages, used

    def postings(self, stem, most=None):
        found = np.array(sorted(self.used.get(stem, [])), dtype=np.int64)
        return None if most is not None and len(found) > most else found


def test_the_collection_settles_an_ambiguous_abbreviation():
    """100 passages: 0-3 use "multiple myeloma" and 0-2 also "permeative"; 50-55 use "medial meniscus" and 50-52
    also "tear". "permeative" is in 3 of myeloma's 4 passages against 4 of all 100 (lift 0.75 / 0.04, over 2): it
    goes with multiple myeloma, and "tear" with medial meniscus. Without the collection, the lexicon puts medial
    meniscus first either way (neither its context words nor myeloma's name "permeative")."""
    used = {
        "multipl": range(0, 41),
        "myeloma": range(0, 4),
        "medial": range(50, 60),
        "meniscus": range(50, 56),
        "lytic": [0, 1, 2, 60],
        "permeat": [0, 1, 2, 60],
        "tear": [50, 51, 52, 70],
        "bone": range(0, 10),  # 10 of 100 passages: over 5%, says nothing
        "raindrop": [0, 70],  # with myeloma in one passage only: not enough
        "lytic-append": [0, 1, 2],
    }
    lexicon = load_lexicon()
    alone = Expander(lexicon)
    assert top(alone.expand("MM with permeative foci"), "MM")[0] == "medial meniscus"
    told = Expander(lexicon, postings=FakePostings(100, used))
    assert top(told.expand("MM with permeative foci"), "MM")[0] == "multiple myeloma"
    assert top(told.expand("MM tear"), "MM")[0] == "medial meniscus"
    readings = ["multiple myeloma", "medial meniscus"]
    assert told._associated(readings, {"lytic", "tear", "lesion", "bone", "raindrop"}) == [{"lytic"}, {"tear"}]
    # a hyphenated word counts by its parts, once each
    assert told._associated(readings, {"lytic-append", "lytic", "append"}) == [{"lytic"}, set()]


def test_a_word_the_reading_uses_no_more_than_the_collection_does_is_not_its_context():
    """1000 passages, 40 use "multiple myeloma". A word in 50 passages (5%) needs over 2 x 5% = 10% of myeloma's
    passages: 5 of 40 (12.5%) counts, 4 (10%) does not."""
    used = {"multipl": range(0, 40), "myeloma": range(0, 40)}
    used["focal"] = [*range(0, 5), *range(100, 145)]
    used["diffus"] = [*range(0, 4), *range(100, 146)]
    told = Expander(load_lexicon(), postings=FakePostings(1000, used))
    assert told._associated(["multiple myeloma"], {"focal", "diffus"}) == [{"focal"}]


def test_bm25_postings_are_the_passages_that_use_a_stem():
    from radlite.config import BM25Config
    from radlite.retrievers.bm25 import BM25Index, tokenize

    texts = [
        "Multiple myeloma: punched-out lytic lesions of the skull",
        "Medial meniscus tear on knee MRI",
        "Lytic lesions of multiple myeloma on whole-body CT",
        "Bucket-handle tear of the medial meniscus",
        "Multiple myeloma with diffuse marrow infiltration and lytic foci",
    ]
    index = BM25Index.build(texts, BM25Config())
    for stem in ("myeloma", "lytic", "tear", "meniscus", "skull"):
        assert index.postings(stem).tolist() == [i for i, t in enumerate(texts) if stem in tokenize(t)]
    assert index.postings("absent").tolist() == [] and index.postings("lytic", most=2) is None
    # the real index settles MM as the fake ones do, once the collection is large enough that a word in three
    # passages is rarer than 5% of them
    index = BM25Index.build(texts + [f"passage {w} about {w} alone" for w in _words(60)], BM25Config())
    told = Expander(load_lexicon(), postings=index)
    assert top(told.expand("MM: lytic lesions"), "MM")[0] == "multiple myeloma"


def test_a_roman_numeral_grade_is_not_an_abbreviation(expander):
    assert [a["text"] for a in expander.expand("VCUG grade IV VUR").abbreviations] == ["VCUG", "VUR"]
    assert [a["text"] for a in expander.expand("type II or IV endoleak").abbreviations] == []
    assert top(expander.expand("IV contrast CT"), "IV")[0] == "intravenous"
    assert [a["text"] for a in expander.expand("Salter-Harris IV fracture").abbreviations] == []
    # a chain of grades starts from a grading word: here IA and IV are both abbreviations
    assert [a["text"] for a in expander.expand("IA or IV thrombolysis").abbreviations] == ["IA", "IV"]


def test_a_plural_abbreviation_reads_as_its_singular(expander):
    assert top(expander.expand("SPNs on CT"), "SPNs")[0] == "solitary pulmonary nodule"
    assert top(expander.expand("recurrent PEs on CTPA"), "PEs")[0] == "pulmonary embolism"


def test_hyphens_and_apostrophes_do_not_tell_phrases_apart_and_non_turns_one_around(expander):
    for typed, listed in (
        ("tree in bud sign", "tree-in-bud sign"),
        ("bulls eye sign", "bull's eye sign"),
        ("coca cola bottle sign", "coca-cola bottle sign"),
    ):
        e = expander.expand(f"{typed} on imaging")
        assert [p["text"] for p in e.phrases] == [typed]
        assert e.phrases[0]["terms"] == expander.expand(f"{listed} on imaging").phrases[0]["terms"]
    # and the other way: a hyphen typed where the lexicon has none ("pins and needles" is listed)
    assert expander.expand("pins-and-needles down my arm").phrases[0]["terms"] == ["paresthesia"]
    # a term that is only the typed phrase written another way is no reading ("kearns sayre syndrome" is listed
    # as "kearns-sayre syndrome")
    assert expander.expand("Kearns-Sayre syndrome").phrases == []
    # "non contrast CT" is not "contrast CT" (contrast-enhanced computed tomography)
    assert [p["text"] for p in expander.expand("contrast CT head").phrases] == ["contrast CT"]
    assert expander.expand("non contrast CT head").phrases == []


def test_articles_and_possessives_do_not_tell_lay_phrases_apart(expander):
    # the lexicon lists "blood in the urine", "fluid on the knee" and "blood clots in the lungs"
    for typed, meant in (
        ("blood in urine, ct urogram or ultrasound", "hematuria"),
        ("fluid on my knee after a fall", "knee joint effusion"),
        ("blood clots in my lungs on ct", "pulmonary embolism"),
    ):
        assert meant in expander.expand(typed).phrases[0]["terms"], typed
    # only inside a phrase: "a heart attack" is "a" and the phrase "heart attack"
    assert [p["text"] for p in expander.expand("SAH after a heart attack").phrases] == ["heart attack"]


def test_phrases_and_lay_words_map_to_the_fields_terms(expander):
    e = expander.expand("sudden shortness of breath, Dawson fingers")
    assert {p["text"]: p["terms"] for p in e.phrases} == {
        "shortness of breath": ["dyspnea"],
        "Dawson fingers": ["multiple sclerosis"],
    }
    assert e.bm25_terms["dyspnea"] == 1.0 and "(multiple sclerosis)" in e.neural_text
    # the longest phrase wins: the triangular cord sign is not the cord sign, apical ballooning not an aneurysm
    for query, terms in (
        ("triangular cord sign in infant cholestasis", ["biliary atresia"]),
        ("cord sign on noncontrast CT", ["cerebral venous thrombosis"]),
        ("apical ballooning with a hyperkinetic base", ["takotsubo cardiomyopathy"]),
    ):
        assert [p["terms"] for p in expander.expand(query).phrases] == [terms], query


def test_negation_scope_cues_before_and_after_and_its_end(expander):
    e = expander.expand("crescentic collection crossing sutures, no subarachnoid blood")
    assert e.negated == [{"cue": "no", "text": "subarachnoid blood"}]
    assert "subarachnoid" not in e.bm25_terms and "subarachnoid" in e.negated_terms
    assert e.neural_text == "crescentic collection crossing sutures"
    post = expander.expand("young woman with chest pain, PE ruled out")
    assert post.negated == [{"cue": "ruled out", "text": "PE"}] and "pe" not in post.bm25_terms
    assert "embol" in post.negated_terms  # a negated abbreviation's expansions are negated too
    # the scope ends at "but": the effusion is present
    assert expander.expand("no fracture but a joint effusion").negated == [{"cue": "no", "text": "fracture"}]
    # "not" before a state of the patient negates that state alone: the torsion is what is sought
    torsion = expander.expand("pelvic pain not pregnant ovarian torsion")
    assert torsion.negated == [{"cue": "not", "text": "pregnant"}]
    assert torsion.neural_text == "pelvic pain ovarian torsion" and "torsion" in torsion.bm25_terms
    # but a list of states goes on, and before other adjectives "not" negates what they describe too, as it does a
    # state that names a disease with the next word
    listed = expander.expand("subdural, not anticoagulated or thrombocytopenic, trauma")
    assert listed.negated[0]["text"] == "anticoagulated or thrombocytopenic"
    assert expander.expand("syncope, no SAM, not obstructive HCM").negated[-1]["text"] == "obstructive HCM"
    assert (
        expander.expand("headache not hypertensive encephalopathy").negated[0]["text"] == "hypertensive encephalopathy"
    )
    assert expander.expand("bleeding not postmenopausal bleeding").negated[0]["text"] == "postmenopausal bleeding"


def test_a_negated_list_goes_on_past_its_commas(expander):
    e = expander.expand("chest radiograph after biopsy: no pneumothorax, effusion or consolidation")
    assert e.negated == [{"cue": "no", "text": "pneumothorax, effusion or consolidation"}]
    assert [e.about_negated(t) for t in ("Pleural effusion", "Pneumothorax", "Lung biopsy")] == [1.0, 1.0, 0.0]
    assert e.neural_text == "chest radiograph after biopsy"
    # the item after "or" is the last; a comma without a list after it still ends the scope
    assert expander.expand("no PE, pneumonia or aortic dissection, chest pain").neural_text == "chest pain"
    assert expander.expand("no fracture, mild soft tissue swelling").negated == [{"cue": "no", "text": "fracture"}]
    # what a scan is done without is not a finding: the list after it is what is sought
    e = expander.expand("CT abdomen without contrast, appendicitis or kidney stone")
    assert e.negated == [{"cue": "without", "text": "contrast"}] and "appendicitis or kidney stone" in e.neural_text


def test_the_longer_cue_wins_and_a_two_way_cue_closes_what_came_before(expander):
    # "not seen" follows what it negates; "not" alone would have negated "seen on US"
    e = expander.expand("fine linear calcifications, IDC not seen on US")
    assert e.negated == [{"cue": "not seen", "text": "IDC"}] and e.bm25_terms["ultrasound"] > 0
    assert expander.expand("rings and arcs, chondrosarcoma not suspected").negated == [
        {"cue": "not suspected", "text": "chondrosarcoma"}
    ]
    # "ruled out by ...": closes what came before; "ruled out" then a finding: opens what follows
    assert expander.expand("multiple fractures, abuse ruled out by the team").negated == [
        {"cue": "ruled out", "text": "abuse"}
    ]
    assert expander.expand("fever, ruled out pneumonia").negated == [{"cue": "ruled out", "text": "pneumonia"}]
    # "absent" before a finding is part of it (an absent bow tie is the sign), after one a post-cue
    assert expander.expand("double PCL sign, absent bow tie meniscus").negated == []
    assert expander.expand("subpleural sparing, honeycombing absent").negated == [
        {"cue": "absent", "text": "honeycombing"}
    ]


def test_not_a_concern_sets_aside_what_comes_before_and_present_is_no_part_of_a_name(expander):
    e = expander.expand("silicone implant rupture on MRI, lymphoma not a concern")
    assert e.negated == [{"cue": "not a concern", "text": "lymphoma"}] and "lymphoma" not in e.neural_text
    # ... unless it says for what: then that is set aside, and the nodule is what is sought
    e = expander.expand("pulmonary nodule not a concern for malignancy, smoker")
    assert e.negated == [{"cue": "not a concern for", "text": "malignancy"}] and "nodul" in e.bm25_terms
    e = expander.expand("horizontal streaks through the shoulders, no metal hardware present")
    assert e.negated == [{"cue": "no", "text": "metal hardware present"}]
    assert e.about_negated("Metal hardware") == 1.0  # the title need not say "present"


def test_a_title_names_a_negated_thing_only_when_it_holds_all_of_one_reading(expander):
    e = expander.expand("dilated cecum in the left upper quadrant, no sigmoid volvulus, not PE")
    assert e.about_negated("Sigmoid volvulus") == 1.0
    assert e.about_negated("Cecal volvulus") == 0.0  # a shared word is not the same condition
    # an abbreviation is named by itself or by an expansion, as much as that expansion is weighed
    pe = next(a for a in e.abbreviations if a["text"] == "PE")["expansions"]
    embolism = next(x["weight"] for x in pe if x["text"] == "pulmonary embolism")
    assert e.about_negated("Acute pulmonary embolism on CTPA") == pytest.approx(embolism)
    # "or" and a qualifier ("on pathology") end one negated thing; "any" names nothing
    two = expander.expand("ovarian mass with ascites, no pneumothorax or ovarian cancer on pathology")
    assert two.about_negated("Pneumothorax") == 1.0 and two.about_negated("Epithelial ovarian cancer") == 1.0
    assert two.about_negated("Meigs syndrome and ovarian fibroma") == 0.0
    assert expander.expand("calcifications without any mass").about_negated("Breast mass") == 1.0
    # a qualifier is not negated: "on CT" stays in the query and names nothing to push down
    ct = expander.expand("SAH, no fracture on CT")
    assert ct.negated == [{"cue": "no", "text": "fracture"}] and ct.bm25_terms["ct"] == 1.0
    assert ct.about_negated("Subarachnoid hemorrhage on CT") == 0.0 and ct.about_negated("Dens fracture") == 1.0
    # the next cue ends a scope: two things, each pushed down alone
    both = expander.expand("no pneumothorax no effusion after biopsy")
    assert both.about_negated("Pneumothorax") == 1.0 and both.about_negated("Pleural effusion") == 1.0


def test_a_title_that_names_the_negated_thing_as_absent_is_what_the_query_seeks(expander):
    # a missing septum pellucidum is what septo-optic dysplasia shows, and the passage about it says so
    e = expander.expand("newborn MRI: no septum pellucidum, small optic nerves")
    assert e.negated == [{"cue": "no", "text": "septum pellucidum"}]
    assert e.about_negated("Septo-optic dysplasia: absent septum pellucidum and optic nerve hypoplasia") == 0.0
    assert e.about_negated("Loss of the septum pellucidum in hydrocephalus") == 0.0
    assert e.about_negated("Septum pellucidum cysts") == 1.0  # named, not as absent
    # a cue that belongs to something else in the title does not count
    free = expander.expand("abdominal pain, no pneumoperitoneum")
    for title in ("Absent bowel sounds and pneumoperitoneum", "Not all pneumoperitoneum needs surgery"):
        assert free.about_negated(title) == 1.0
    # what a scan is done without pushes nothing down: "CT without contrast" looks for "Non-contrast CT"
    protocol = expander.expand("CT without contrast for renal colic")
    assert protocol.negated == [{"cue": "without", "text": "contrast"}]
    assert protocol.about_negated("Non-contrast CT of urolithiasis") == 0.0


def test_a_plural_phrase_is_found_by_its_singular(expander):
    # the lexicon lists "slipped disc" only
    assert expander.expand("two slipped discs in the low back").phrases[0]["terms"][0] == "disc herniation"
    # never the other way: a "pile" is not "piles" (hemorrhoids), and "swollen ankle" is not "swollen ankles"
    assert [p["text"] for p in expander.expand("pile of old films, piles on colonoscopy").phrases] == ["piles"]
    assert expander.expand("swollen ankle after a fall").phrases == []


def test_radiology_readings_come_first_and_the_collection_can_overrule_them(expander):
    shoulder = expander.expand("RCT on MRI: full-thickness supraspinatus tear, AHD 6 mm")
    assert top(shoulder, "RCT")[0] == "rotator cuff tear" and top(shoulder, "AHD")[0] == "acromiohumeral distance"
    assert top(expander.expand("fever and AMS, FLAIR signal in mesial temporal lobes"), "AMS")[0] == (
        "altered mental status"
    )
    # a collection that never writes "rotator cuff" reads RCT the other way
    vocab = dict.fromkeys(tokenize("randomized controlled trial of statins versus placebo"), 1)
    trial = Expander(load_lexicon(), vocab).expand("RCT of statins versus placebo")
    assert [x["text"] for x in trial.abbreviations[0]["expansions"]] == ["randomized controlled trial"]


def test_a_lexicon_phrase_that_holds_a_negation_cue_is_a_name_not_a_negation(expander):
    e = expander.expand("triple negative breast cancer on MRI")
    assert e.negated == [] and e.phrases[0]["text"] == "triple negative breast cancer"
    assert e.neural_text.startswith("triple negative breast cancer")
    assert expander.expand("HIV negative patient with lymphoma").negated == [{"cue": "negative", "text": "HIV"}]
    # a lay phrase too: the testicle that has not dropped is what the boy has (lexicon 9), not a testicle set aside
    e = expander.expand("testicle not dropped, ultrasound in a 1 year old boy")
    assert e.negated == [] and e.phrases[0]["terms"] == ["cryptorchidism"]
    # every phrase of radlite's own list is read as written
    from radlite.terms.build import own_terms

    _, phrases = own_terms()
    assert [key for key in phrases if expander.expand(f"{key} on CT").negated] == []


def test_a_negated_action_is_the_finding_and_is_kept(expander):
    # the failure to pass meconium is what the newborn has: nothing is set aside, nothing pushed down
    for query in (
        "trisomy 21 newborn has not passed meconium, distended abdomen",
        "elderly man who is not passing stool, twisted loop of large bowel",
        "adrenal masses that do not enhance after contrast",
        "transplant recipient not taking prophylaxis, ground-glass and cysts",
    ):
        e = expander.expand(query)
        assert e.negated == [] and e.negated_items == [], query
    assert "meconium" in expander.expand("newborn has not passed meconium, distended abdomen").neural_text
    # a state is still negated, and so is a thing, and what a negated verb of having or showing names (NegEx's)
    assert expander.expand("CT abdomen: spleen is not enlarged").negated == [{"cue": "not", "text": "enlarged"}]
    e = expander.expand("thunderclap headache, CT does not show a hemorrhage")
    assert e.negated == [{"cue": "not show", "text": "a hemorrhage"}] and "hemorrhag" in e.negated_terms
    assert expander.expand("did not have a stroke, sudden vertigo").negated == [{"cue": "not have", "text": "a stroke"}]
    for query, cue in (
        ("wrist pain, CT not demonstrating a fracture", "not demonstrating"),
        ("wrist pain, CT did not detect a fracture", "not detect"),
    ):
        assert expander.expand(query).negated == [{"cue": cue, "text": "a fracture"}], query
    # a finding in -ing is negated (a lexicon phrase, or one radlite lists), and so is what "never" negates
    assert expander.expand("amputation stump not bleeding").negated == [{"cue": "not", "text": "bleeding"}]
    assert expander.expand("gallbladder wall not thickening").negated == [{"cue": "not", "text": "thickening"}]
    assert expander.expand("lung nodule, has never smoked").negated == [{"cue": "never", "text": "smoked"}]
    assert expander.expand("lytic lesion, not a hemangioma").negated == [{"cue": "not", "text": "a hemangioma"}]


def test_the_absence_of_what_the_body_normally_shows_is_the_finding_and_is_kept(expander):
    # no lung sliding is pneumothorax, no flow is torsion: nothing is set aside, the words stay in the query
    for query, kept in (
        ("eFAST: no lung sliding, lung point", "no lung sliding"),
        ("scrotal pain, absent intratesticular flow on color Doppler", "absent intratesticular flow"),
        ("flank pain, twinkling, absent ureteric jet", "absent ureteric jet"),
        ("torsion? the cremasteric reflex is absent, scrotal swelling", "the cremasteric reflex is absent"),
        ("dense bones without corticomedullary differentiation", "without corticomedullary differentiation"),
    ):
        e = expander.expand(query)
        assert e.negated == [] and e.negated_items == [], query
        assert kept in e.neural_text, query
    # before what it describes, "absent" names a finding; after it, it negates
    for query in ("infant cholestasis, absent gallbladder", "double PCL sign, absent bow tie"):
        assert expander.expand(query).negated == [], query
    assert expander.expand("ground glass with subpleural sparing, UIP pattern absent").negated == [
        {"cue": "absent", "text": "UIP pattern"}
    ]
    # a condition beside it is still negated, and so is a named change of flow ("of" before the sign)
    e = expander.expand("absent intratesticular flow, no epididymal hyperemia")
    assert e.negated == [{"cue": "no", "text": "epididymal hyperemia"}]
    assert expander.expand("portal hypertension, no reversal of flow").negated == [
        {"cue": "no", "text": "reversal of flow"}
    ]
    # a sign word that qualifies another is no sign, nor is one qualified as abnormal, nor a word that only shares
    # its stem: each of these is a condition set aside
    for query, text in (
        ("CTPA for dyspnea, no filling defect", "filling defect"),
        ("stroke CT, no perfusion deficit", "perfusion deficit"),
        ("cough, no flow-limiting stenosis", "flow-limiting stenosis"),
        ("cirrhosis, no hepatofugal flow", "hepatofugal flow"),
        ("scrotal pain, no increased flow in the epididymis", "increased flow"),
        ("headache, no visual field defect", "visual field defect"),
        ("back pain, no pulsatile mass", "pulsatile mass"),
        ("cough fever, no focal airspace opacification", "focal airspace opacification"),
        ("heartburn, filling defect not seen", "filling defect"),
    ):
        assert expander.expand(query).negated[0]["text"] == text, query
    # in a list, only the sign's item is kept: the condition beside it is still set aside
    assert expander.expand("trauma, no pneumothorax or lung sliding").negated == [{"cue": "no", "text": "pneumothorax"}]
    assert expander.expand("leg swelling, no DVT or flow abnormality").negated == [
        {"cue": "no", "text": "DVT or flow abnormality"}
    ]
    # an adverb after a post-cue "absent" closes it: what came before is negated
    assert expander.expand("fibrosis, honeycombing absent bilaterally").negated == [
        {"cue": "absent", "text": "honeycombing"}
    ]


def test_a_query_of_nothing_but_negation_is_searched_as_typed(expander):
    # "no pneumothorax" is a statement someone is looking for (a report that says it), not an empty query
    for query in ("no pneumothorax", "pneumothorax resolved"):
        e = expander.expand(query)
        assert e.negated == [] and e.negated_items == [] and e.bm25_terms is None and e.neural_text == query


def test_uncertain_findings_are_kept(expander):
    e = expander.expand("r/o NEC in preemie")
    assert e.uncertain == [{"cue": "r/o", "text": "NEC"}] and e.negated == []
    assert e.bm25_terms["nec"] == 1.0 and top(e, "NEC")[0] == "necrotizing enterocolitis"


def test_a_query_with_nothing_to_read_is_left_alone(expander):
    e = expander.expand("filling defect pulmonary artery")
    assert not e.changed and e.bm25_terms is None and e.neural_text == "filling defect pulmonary artery"


def test_expansions_the_collection_never_uses_are_dropped():
    vocab = {"pulmonari": 1, "embol": 2}
    e = Expander(load_lexicon(), vocab).expand("PE")
    assert [x["text"] for x in e.abbreviations[0]["expansions"]] == ["pulmonary embolism"]


def test_an_abbreviation_the_query_points_to_a_reading_the_collection_never_uses_is_left_as_typed():
    # the collection writes Huntington and Hodgkin disease, never hemodialysis: "dialysis" points to hemodialysis,
    # so HD is not read as another disease; without such a word it reads as the collection's
    vocab = dict.fromkeys(tokenize("Huntington disease Hodgkin caudate dialysis"), 1)
    on_dialysis = Expander(load_lexicon(), vocab).expand("HD pt on dialysis")
    assert on_dialysis.abbreviations == [] and not on_dialysis.changed and on_dialysis.bm25_terms is None
    assert top(Expander(load_lexicon(), vocab).expand("HD caudate atrophy"), "HD")[0] == "Huntington disease"
    assert top(Expander(load_lexicon()).expand("HD pt on dialysis"), "HD")[0] == "hemodialysis"


def test_the_site_glossary_comes_first(tmp_path):
    tsv = tmp_path / "g.tsv"
    tsv.write_text("# our words\nPE\tpericardial effusion\nbrain attack\tischemic stroke|stroke\n", encoding="utf-8")
    glossary = read_glossary(tsv)
    assert glossary == {"PE": ["pericardial effusion"], "brain attack": ["ischemic stroke", "stroke"]}
    e = Expander(load_lexicon().with_glossary(glossary)).expand("PE after a Brain Attack")
    assert top(e, "PE")[0] == "pericardial effusion"
    assert {p["text"]: p["terms"] for p in e.phrases} == {"Brain Attack": ["ischemic stroke", "stroke"]}
    js = tmp_path / "g.json"
    js.write_text(json.dumps({"CTPA": "CT pulmonary angiogram", "SOB": ["dyspnoea"]}), encoding="utf-8")
    assert read_glossary(js) == {"CTPA": ["CT pulmonary angiogram"], "SOB": ["dyspnoea"]}
    # a spreadsheet's byte-order mark is not part of the first term; a capitalised term of two words is a phrase
    bom = tmp_path / "excel.tsv"
    bom.write_bytes("\ufeffTTNB\ttransient tachypnea of the newborn\nBowtie Sign\tbucket-handle tear\n".encode())
    own = Expander(load_lexicon().with_glossary(read_glossary(bom)))
    assert top(own.expand("TTNB"), "TTNB")[0] == "transient tachypnea of the newborn"
    assert [p["terms"] for p in own.expand("bowtie sign absent on MRI").phrases] == [["bucket-handle tear"]]


@pytest.mark.parametrize(
    "name, text, words",
    [
        ("a.tsv", "PE pulmonary embolism\n", "a.tsv:1: expected 'term<TAB>expansion"),
        ("b.json", "[1, 2]", "expected a JSON object"),
        ("c.json", '{"PE": []}', "must map to a non-empty string"),
        ("d.tsv", "# nothing\n", "no entries"),
        ("e.json", "{bad", "not valid JSON"),
    ],
)
def test_a_bad_glossary_is_refused_naming_the_problem(tmp_path, name, text, words):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CorpusError, match=words.replace("?", r"\?")):
        read_glossary(path)
    with pytest.raises(CorpusError, match="cannot read the glossary"):
        read_glossary(tmp_path / "missing.tsv")


def test_the_shipped_lexicon_is_small_versioned_and_attributed():
    from radlite.terms.lexicon import LEXICON_FILE, LEXICON_VERSION

    lexicon = load_lexicon()
    # the shipped file is the one the code's version names (rebuild it when the version changes)
    assert LEXICON_FILE.stat().st_size < 3_000_000 and lexicon.version == LEXICON_VERSION == "9"
    assert len(lexicon.sha256) == 64
    assert any("CC BY-SA" in a for a in lexicon.attribution) and any(
        "National Library" in a for a in lexicon.attribution
    )


@pytest.mark.skipif(not (SHARED / "mesh").is_dir(), reason="the shared terminology data is not here")
def test_the_lexicon_build_is_reproducible(tmp_path):
    from radlite.terms.build import main
    from radlite.terms.lexicon import LEXICON_FILE

    main(["--data", str(SHARED), "--out", str(tmp_path / "lexicon.json.gz")])
    assert (tmp_path / "lexicon.json.gz").read_bytes() == LEXICON_FILE.read_bytes()


def test_radiology_physics_abbreviations_read_in_radiologys_sense(expander):
    assert_first_readings(
        expander,
        (
            ("grid cutoff at short SID", "SID", "source-to-image distance"),  # not "once daily"
            ("chemical shift artifact, increase the receiver BW", "BW", "bandwidth"),  # not "blood work"
            ("grainy image, raise NSA", "NSA", "number of signal averages"),  # not "no significant abnormality"
        ),
    )


def test_cardiac_valve_and_pet_shorthand_read_by_the_rest_of_the_query(expander):
    # lexicon 5: AV was only arteriovenous or atrioventricular, NAC never PET's non-attenuation-corrected images
    assert_first_readings(
        expander,
        (
            ("AV calcium score in severe aortic stenosis", "AV", "aortic valve"),
            ("AV fistula, arteriovenous shunt for dialysis", "AV", "arteriovenous"),
            ("PET/CT CTAC misregistration, check the NAC images", "NAC", "non-attenuation-corrected"),
            ("transcatheter PVR for a failing pulmonary valve conduit", "PVR", "pulmonary valve replacement"),
            ("PVR of 300 mL after voiding, bladder outlet obstruction", "PVR", "post-void residual"),
        ),
    )
    # where AV is atrioventricular in a name, the name is a phrase and AV is not read on its own
    e = expander.expand("AV canal defect in Down syndrome")
    assert e.phrases[0]["terms"] == ["atrioventricular septal defect"] and not e.abbreviations


def test_the_words_medical_text_uses_near_an_expansion_tell_it_apart():
    """Within 3 stems of "mitral stenosis" two texts use "rheumatic", "valve" and "fever"; within 3 of "multiple
    sclerosis" two use "demyelinating". Each naming text holds 4 stems near the name, out of 317 stems in all.
    "rheumatic" is 2 of them: chance gives 2 x (1 - (1 - 2/317)^4) = 0.05 texts using it nearby, against 2 (lift 40,
    over 3). "valve" is 62 (a text says it 60 times): chance gives 1.16 (lift 1.7), so it is dropped. "fever" is
    dropped while 3 of the 43 prose texts use it (over COMMON_TEXTS, 5%), and kept when the third does not."""
    from radlite.terms.build import cooccurring

    texts = [
        "valve mitral stenosis after rheumatic fever",
        "rheumatic valve mitral stenosis fever in adults",
        "multiple sclerosis demyelinating lesions seen on brain",
        "demyelinating plaques in brains of multiple sclerosis",
        " ".join(["valve"] * 60),
        "alpha0 beta0 gamma0 delta0 epsilon0 fever",
        *[f"alpha{i} beta{i} gamma{i} delta{i} epsilon{i} zeta{i}" for i in range(1, 39)],
    ]
    names = ["mitral stenosis", "multiple sclerosis", "time of flight"]
    (rheumatic,), (fever,), (demyelinating,) = tokenize("rheumatic"), tokenize("fever"), tokenize("demyelinating")
    assert cooccurring(names, texts, window=3) == {
        "mitral stenosis": [rheumatic],
        "multiple sclerosis": [demyelinating],
    }
    texts[5] = "alpha0 beta0 gamma0 delta0 epsilon0 zeta0"
    assert cooccurring(names, texts, window=3) == {
        "mitral stenosis": [fever, rheumatic],
        "multiple sclerosis": [demyelinating],
    }
    # what the shipped lexicon learnt so: without these words the lexicon read craniocaudal, common bile duct and
    # barium enema here
    reader = Expander(load_lexicon())
    assert_first_readings(
        reader,
        (
            ("CC agenesis with colpocephaly and parallel lateral ventricles", "CC", "corpus callosum"),
            ("CBD with asymmetric perirolandic atrophy and alien limb", "CBD", "corticobasal degeneration"),
            ("long segment BE, new focal esophageal wall thickening, r/o adenocarcinoma", "BE", "Barrett esophagus"),
        ),
    )


def test_a_passage_shows_which_expansions_it_matches(expander):
    e = expander.expand("SAH after a heart attack")
    assert e.matched_in("Subarachnoid hemorrhage and myocardial infarction") == [
        "SAH -> subarachnoid hemorrhage",
        "heart attack -> myocardial infarction",
    ]
    assert e.matched_in("Hemorrhage on CT") == []  # every word of an expansion, not one of them


def test_an_inverted_mesh_heading_is_named_by_its_plain_entry_term():
    from radlite.terms.build import plain_name

    synonyms = ["Lymphoma, Small Cleaved-Cell, Diffuse", "Diffuse Small Cleaved-Cell Lymphoma", "Non-Hodgkin Lymphoma"]
    assert plain_name("Lymphoma, Non-Hodgkin", synonyms) == "Non-Hodgkin Lymphoma"  # not the first plain one
    # no entry term with the heading's words: the heading's two parts swapped, not a longer term (a subtype)
    assert plain_name("Pneumonia, Lipid", ["Endogenous Lipid Pneumonia", "Lipoid Pneumonia"]) == "Lipid Pneumonia"
    assert plain_name("Carcinoma, Ductal, Breast", ["Mammary Ductal Carcinoma"]) == "Mammary Ductal Carcinoma"
    assert plain_name("Embolism, Air, Venous", ["Embolism, Gas"]) is None
    lexicon = load_lexicon()
    assert lexicon.phrases.get("lymphatic sarcoma") == ["non-hodgkin lymphoma"]


def test_hedges_labels_verdicts_and_protocols_are_read_as_meant(expander):
    # a hedge keeps the finding, uncertain: "cannot be ruled out" is not "ruled out"
    for query, text in (
        ("RLQ pain, appendicitis cannot be ruled out", "appendicitis"),
        ("fracture can't be excluded, scaphoid", "fracture"),
    ):
        e = expander.expand(query)
        assert e.negated == [] and [u["text"] for u in e.uncertain] == [text], query
    # what a scan is done without ends there: what follows is sought ("without contrast stroke")
    e = expander.expand("CT head without contrast stroke")
    assert e.negated == [{"cue": "without", "text": "contrast"}] and "stroke" in e.neural_text
    # "no contrast CT" is not the phrase "contrast CT" (contrast-enhanced)
    assert all(
        "contrast-enhanced" not in t
        for p in expander.expand("no contrast CT abdomen stone").phrases
        for t in p["terms"]
    )
    # a report's verdict against a diagnosis sets that diagnosis aside
    assert expander.expand("RUQ ultrasound, not consistent with cholecystitis, gallstones").negated == [
        {"cue": "not consistent with", "text": "cholecystitis"}
    ]
    # "negative" before what it describes labels a kind; after a finding, it negates
    for query in ("ER positive HER2 negative breast cancer staging", "smear negative tuberculosis CT chest"):
        assert expander.expand(query).negated == [], query
    assert expander.expand("chest pain, D-dimer negative").negated == [{"cue": "negative", "text": "D-dimer"}]
    # a congenital absence is the anomaly
    assert expander.expand("congenital absence of the pericardium, chest xray").negated == []


def test_a_cue_that_negates_nothing_stays_in_the_query_as_typed(expander):
    # "not showing" has nothing to negate before "on"; "negative" begins the query: both are part of what is asked
    for query, kept in (
        ("broken hip not showing on x ray, need an mri", "not showing on x ray"),
        ("negative HU fat in kidney lesion", "negative HU"),
    ):
        e = expander.expand(query)
        assert e.negated == [] and kept in e.neural_text, query
