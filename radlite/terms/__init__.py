"""Radiology language: a lexicon of abbreviations, synonyms, lay words and imaging signs (radlite.terms.lexicon,
built by radlite.terms.build from openly licensed terminologies), and query understanding (radlite.terms.expand:
abbreviations expanded with their ambiguity weighed, phrases mapped to the field's terms, negated findings kept
from pulling documents about them)."""

from radlite.terms.lexicon import Lexicon, load_lexicon, read_glossary

__all__ = ["Lexicon", "load_lexicon", "read_glossary"]
