"""Patterns of French and English typography that several stages read: one home for each.

A year, the end of a sentence, a citation marker and a capitalised name are read by the
loaders, the question analysis, the reader, the grounding checks and the UI. Each is defined
once here, so that a rule (« a year is a four-digit number from 1950 to 2099 ») cannot hold in
one stage and not in the next. None of them names a word of any document.
"""

from __future__ import annotations

import re

# -- years -------------------------------------------------------------------------------------

#: A year of the modern era as documents and questions write it (« en 2023 », « 2019-2024 »).
YEAR = re.compile(r"\b(19[5-9]\d|20\d\d)\b")
FIRST_YEAR, LAST_YEAR = 1950, 2099


def years_in(text: str | None) -> list[int]:
    """The years ``text`` writes, in order."""
    return [int(y) for y in YEAR.findall(text or "")]


def is_year(value: float) -> bool:
    """Whether a number read as a figure is more likely a year (« 2023 » counts nothing)."""
    return value == int(value) and FIRST_YEAR <= value <= LAST_YEAR


# -- sentence ends -----------------------------------------------------------------------------

#: Final punctuation, then closing quotes or brackets: the end of a sentence in French or
#: English typography (« … 17 %. », « …” », « …) »).
END_PUNCTUATION = r"[.!?…]+[»\"')\]”’]*"
_ENDS_SENTENCE = re.compile(END_PUNCTUATION + r"\s*$")
#: Within a paragraph: an end, spaces, then what can open a sentence (a capital, a digit, an
#: opening quote or bracket, a bullet).
SENTENCE_BOUNDARY = re.compile(r"(" + END_PUNCTUATION + r")(\s+)(?=[«\"'(\[“A-ZÀ-ÖØ-Þ0-9•\-–])")


def ends_sentence(text: str) -> bool:
    """Whether ``text`` ends as a sentence does (not cut mid-way, not a lead-in)."""
    return bool(_ENDS_SENTENCE.search(text))


WEB_ADDRESS = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)


def mostly_addresses(text: str) -> bool:
    """A line that is mostly web addresses (a footnote's link, a list of sources): a reference to
    read elsewhere, not a statement to quote. Half of its characters or more are addresses."""
    addresses = sum(len(m) for m in WEB_ADDRESS.findall(text))
    return addresses > 0 and addresses >= 0.5 * len(text.strip())


def announces(text: str) -> bool:
    """A sentence ending with a colon announces what follows (a list, a table, steps)."""
    return text.rstrip().endswith(":")


# -- citation markers --------------------------------------------------------------------------

#: A citation marker « [2] » or « [1, 3] » (group 1: the numbers): never a figure.
CITATION = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")


def cited_numbers(text: str) -> list[int]:
    """The numbers the markers of ``text`` cite, in order of first citation."""
    found: dict[int, None] = {}
    for match in CITATION.finditer(text):
        for number in re.split(r"\s*[,;]\s*", match.group(1)):
            found.setdefault(int(number))
    return list(found)


def has_citation(text: str) -> bool:
    return bool(CITATION.search(text))


def without_citations(text: str) -> str:
    return CITATION.sub(" ", text)


def dedupe_citations(text: str) -> str:
    """« [1]. [1] » -> « [1]. »: a marker repeated right after itself says nothing more."""
    return re.sub(r"(\[\d+\])([.,;:]?)(?:\s*\1)+", r"\1\2", text)


# -- names -------------------------------------------------------------------------------------

#: A name or an acronym: capitalised words past the start of a sentence (« Météo France »,
#: « Banque de France »), or a word in capitals (« INSEE », « SNCF »). French and English
#: typography capitalise names and nothing else inside a sentence.
NAME = re.compile(
    r"(?<![.!?]\s)(?<!^)\b[A-ZÀ-Þ][a-zà-ÿ]+(?:[\s-](?:de\s|du\s|des\s|d['’])?[A-ZÀ-Þ][a-zà-ÿ]+)+|\b[A-Z]{2,}\b"
)
#: A word that may name something: a capital letter past the first word, or a digit.
NAMED_WORD = re.compile(r"(?<!^)(?<![.?!]\s)\b\w*[A-ZÀ-Þ0-9]\w*")


def has_name(text: str) -> bool:
    return bool(NAME.search(text))
