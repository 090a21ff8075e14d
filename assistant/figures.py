"""Figures: find every number in an answer and check it against the cited passages.

A figure is compared by value after normalisation, so "21 %", "21%", "21 pour cent",
"21\u202f%" and "21,0 %" are the same figure, and "10.000", "10 000" and "10000" too. Years,
counts and "12 points" are figures as well; the [n] citation markers are not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.patterns import is_year, without_citations

# 1 200 / 1.200 / 10.000 (thousands), 3,5 / 3.5 (decimals), 21 (integers), then an optional unit.
_NUMBER = re.compile(
    r"(?<![\w.,])(?P<value>\d{1,3}(?:[ \u00a0\u202f.]\d{3})+(?![\d])|\d+(?:[.,]\d+)?)"
    r"(?P<unit>\s?(?:%|pour\s?cents?|pourcents?|percent|pts?\b|points?\b))?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Figure:
    raw: str  # as written in the text
    value: float
    is_percent: bool


def _value(raw: str) -> float:
    text = raw.strip()
    if re.fullmatch(r"\d{1,3}(?:[ \u00a0\u202f.]\d{3})+", text):
        return float(re.sub(r"[ \u00a0\u202f.]", "", text))
    return float(text.replace(",", "."))


def find_figures(text: str) -> list[Figure]:
    """Every figure of ``text``, citation markers excluded."""
    text = without_citations(text)  # the [n] markers are not figures
    figures: list[Figure] = []
    for match in _NUMBER.finditer(text):
        unit = (match.group("unit") or "").strip().lower()
        figures.append(Figure(raw=match.group(0).strip(), value=_value(match.group("value")), is_percent=unit.startswith(("%", "pour", "percent"))))
    return figures


def unsupported_figures(answer_text: str, passages: list[str], question: str = "") -> list[str]:
    """Figures of the answer that appear in none of the passages (as written in the answer).

    Years the question itself names ("en 2023 ?") may be echoed: they restate the question,
    they do not claim anything.
    """
    in_passages = [f for p in passages for f in find_figures(p)]
    any_value = {f.value for f in in_passages}
    counts = {f.value for f in in_passages if not f.is_percent}
    counts |= {f.value for f in find_figures(question) if is_year(f.value) and not f.is_percent}
    missing: list[str] = []
    for figure in find_figures(answer_text):
        # A percentage may come from "25 et 23 %"; a count must be a count in the passage:
        # "28 métropoles" is not supported by "28 % des métropoles".
        supported = figure.value in any_value if figure.is_percent else figure.value in counts
        if not supported and figure.raw not in missing:
            missing.append(figure.raw)
    return missing


def normalise_for_match(text: str) -> str:
    """Text with figures in one canonical form ("21 %" -> "21%"), for "does X appear in Y" checks."""
    text = text.replace("\u00a0", " ").replace("\u202f", " ")

    def canonical(match: re.Match[str]) -> str:
        value = _value(match.group("value"))
        number = str(int(value)) if value == int(value) else str(value)
        unit = (match.group("unit") or "").strip().lower()
        if unit.startswith(("%", "pour", "percent")):
            return number + "%"
        if unit.startswith(("pt", "point")):
            return number + " points"
        return number

    return _NUMBER.sub(canonical, text)


def contains(haystack: str, needle: str, whole_words: bool = False) -> bool:
    """Case-insensitive containment after figure normalisation ("17 %" is not in "117%");
    ``whole_words``: as whole words only (a name: « UE » is not in « que »)."""
    target = normalise_for_match(needle).lower().strip()
    if not target:
        return True
    pattern = re.escape(target)
    if target[0].isdigit():
        pattern = r"(?<![\d.,])" + pattern
    if target[-1].isdigit():
        pattern += r"(?![\d])"
    if whole_words:
        pattern = rf"(?<!\w){pattern}(?!\w)"
    return re.search(pattern, normalise_for_match(haystack).lower()) is not None
