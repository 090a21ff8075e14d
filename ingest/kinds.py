"""Document kinds: the one place that names them, for the manifest, the answers and the UI.

A kind is declared in corpus/sources.toml (or a Markdown front matter); anything else is a
plain ``document``. Answers introduce a quote by its kind ("D'après le baromètre … 2023 :"),
the LLM prompt labels passages with the short form, the UI shows the tag.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    tag: str  # UI tag
    short: str  # passage header in LLM prompts
    fr: str  # "D'après {fr} 2023 :"
    en: str  # "According to {en} 2023:"


KINDS: dict[str, Kind] = {
    "note": Kind("Note de conjoncture", "note de conjoncture", "la note de conjoncture", "the economic outlook note"),
    "annonce": Kind("Annonce", "annonce de la note", "l'annonce de la note de conjoncture", "the announcement of the outlook note"),
    "barometre": Kind("Baromètre", "baromètre", "le baromètre de l'Observatoire Data Publica", "the Observatoire Data Publica barometer"),
    "temoignage": Kind("Témoignage", "témoignage", "le témoignage", "the testimony"),
}
KNOWN_KINDS = tuple(KINDS)


def normalise_kind(value: object) -> str:
    """A declared kind ("Baromètre", "temoignage") as its key, else "document"."""
    key = str(value or "").strip().lower().replace("é", "e").replace("è", "e")
    return key if key in KINDS else "document"


def tag(kind: str | None) -> str:
    known = KINDS.get(kind or "")
    return known.tag if known else (kind or "document").capitalize()


def source_label(kind: str, year: int | None, title: str, language: str) -> str:
    """How an answer names a source: its kind and year, or its title in quotes."""
    known = KINDS.get(kind)
    if known is None:
        return f"« {title} »" if language != "en" else f"“{title}”"
    label = known.en if language == "en" else known.fr
    return f"{label} {year}" if year else label


def short_label(kind: str, title: str) -> str:
    known = KINDS.get(kind)
    return known.short if known else title[:60]
