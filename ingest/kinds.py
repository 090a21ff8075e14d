"""How a document is named: the one place that renders its declared label, for answers, the
LLM prompt and the UI.

Names are data, not code: a ``[[source]]`` of corpus/sources.toml (or a Markdown front matter)
may declare a ``type`` (the tag shown next to a citation, « Baromètre »), a ``label`` (how a
French answer introduces a quote: « D'après {label} 2023 : »), a ``label_en`` (the same in an
English answer) and a ``label_short`` (the passage header read by an LLM, a few tokens). A
document that declares nothing is named by its title in quotes, with the neutral tag
« Document »: a newcomer's document is never given another one's name.

``kind`` stays the filter key (``--kind barometre``, ``filters={"kind": …}``): a slug, declared
or derived from the type.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from typing import Iterable, Protocol

DOCUMENT_KIND = "document"
DOCUMENT_TYPE = "Document"


class Named(Protocol):
    """What naming needs of a document (``DocumentInfo`` at ingest, ``StoredChunk`` at answer time)."""

    title: str
    year: int | None
    label: str | None
    label_en: str | None
    label_short: str | None


def kind_key(value: object) -> str:
    """A declared kind or type (« Baromètre », "temoignage") as a filter slug ("barometre"),
    else "document"."""
    text = unicodedata.normalize("NFKD", str(value or "")).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or DOCUMENT_KIND


def source_label(doc: Named, language: str) -> str:
    """How an answer names a source: its declared label and year, else its title in quotes."""
    label = doc.label_en if language == "en" else doc.label
    if not label:
        return f"“{doc.title}”" if language == "en" else f"« {doc.title} »"
    return f"{label} {doc.year}" if doc.year else label


def short_label(doc: Named) -> str:
    """The few tokens heading a passage in an LLM prompt (each token is paid at every question)."""
    return doc.label_short or doc.label or doc.title[:60]


def kind_choices(pairs: Iterable[tuple[str, str | None]]) -> list[tuple[str, str]]:
    """(shown, kind) for a document-type filter, from the (kind, type) of indexed documents.

    A kind shows its documents' type tag; two kinds with the same tag (« Document ») show their
    key too, so that no two choices read alike.
    """
    tags: dict[str, set[str]] = {}
    for kind, doc_type in pairs:
        tags.setdefault(kind, set()).add(doc_type or DOCUMENT_TYPE)
    shown = {kind: " / ".join(sorted(types)) for kind, types in tags.items()}
    repeated = Counter(shown.values())
    choices = [(f"{tag} ({kind})" if repeated[tag] > 1 else tag, kind) for kind, tag in shown.items()]
    return sorted(choices, key=lambda choice: (choice[0].casefold(), choice[1]))
