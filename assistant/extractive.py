"""Extractive answers: the selected units, quoted verbatim, each introduced by its source.

No LLM: every word outside the short French (or English) frame is a quote, so a figure
cannot be wrong. The spans come from ``reader.select``; this module only writes them.
"""

from __future__ import annotations

from ingest.kinds import source_label
from ingest.models import innermost_heading
from ingest.store import StoredChunk

from .reader import Selection

ABSTAIN_FR = "Les documents indexés ne permettent pas de répondre à cette question."
ABSTAIN_EN = "The indexed documents do not answer this question."


def abstention_text(language: str) -> str:
    return ABSTAIN_EN if language == "en" else ABSTAIN_FR


def compose(selection: Selection, language: str, numbers: dict[str, int]) -> str:
    """The answer text: each quoted span introduced by its source, followed by its [n] markers
    (a span that goes on in the next passage cites both).

    A compound question whose parts the documents do not all answer says which part is left
    unanswered rather than quoting a loosely related sentence for it.
    """
    lines: list[str] = []
    previous_doc: str | None = None
    for span in selection.spans:
        chunk = span.anchor.chunk
        markers = "".join(f"[{numbers[c]}]" for c in dict.fromkeys(u.chunk.id for u in span.units))
        quote = f"« {span.quoted} » {markers}"
        if chunk.doc_id == previous_doc:
            lines.append(quote)
            continue
        label = source_label(chunk, language)
        if language == "en":
            intro = f"According to {label}:" if not lines else f"{label[0].upper()}{label[1:]} states:"
        else:
            intro = f"D'après {label} :" if not lines else f"{label[0].upper()}{label[1:]} indique :"
        lines.append(f"{intro} {quote}")
        previous_doc = chunk.doc_id
    for part in selection.unanswered:
        part = part.rstrip(" ?")
        lines.append(
            f"The indexed documents do not say: « {part} »." if language == "en" else f"Les documents indexés ne précisent pas : « {part} ? »"
        )
    return "\n\n".join(lines)


def compose_overview(selection: Selection, language: str, numbers: dict[str, int]) -> str:
    """An overview: its points as a list of quotes in the documents' order, each document
    introduced once."""
    lines: list[str] = []
    previous_doc: str | None = None
    for span in selection.spans:
        chunk = span.anchor.chunk
        if chunk.doc_id != previous_doc:
            label = source_label(chunk, language)
            intro = f"Key points of {label}:" if language == "en" else f"Points principaux {_of(label)} :"
            lines.append(("\n" if lines else "") + intro)
            previous_doc = chunk.doc_id
        markers = "".join(f"[{numbers[c]}]" for c in dict.fromkeys(u.chunk.id for u in span.units))
        heading = _heading(chunk)
        lines.append(f"- {heading} — « {span.quoted} » {markers}" if heading else f"- « {span.quoted} » {markers}")
    return "\n".join(lines)


def _heading(chunk: StoredChunk) -> str:
    """The heading a point stands under (its section's last level), unless it only repeats the
    document's title: an overview says which part of the document each point comes from."""
    heading = innermost_heading(chunk.section or "")
    return "" if not heading or heading.casefold() in (chunk.title or "").casefold() else heading


def _of(label: str) -> str:
    """« de » before a label, contracted as French requires (« du baromètre », « des guides »)."""
    for article, contracted in (("le ", "du "), ("les ", "des ")):
        if label.startswith(article):
            return contracted + label[len(article):]
    return f"d'{label}" if label[:1].lower() in "aeiouyéèêàâîôû" else f"de {label}"
