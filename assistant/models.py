"""Answer and Citation: the public contract of the assistant (UI, CLI, evals, callers)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ingest.kinds import DOCUMENT_TYPE


class Restart(str):
    """An empty delta of ``Assistant.stream`` meaning "discard the draft streamed so far".

    Sent when an LLM that had started writing fails midway (connection dropped, timeout); the
    final ``Answer`` (the first, extractive one, kept with a notice) follows. It is a ``str``
    equal to "", so a consumer that only concatenates deltas keeps working.
    """

    def __new__(cls) -> "Restart":
        return super().__new__(cls, "")


@dataclass
class Citation:
    """A passage given to the answerer, numbered as the ``[n]`` markers of the answer."""

    n: int
    doc_id: str
    title: str
    kind: str
    year: int | None
    page: int | None
    section: str
    text: str  # the whole passage (chunk)
    score: float
    source: str = ""  # URL or path of the document, as declared
    chunk_id: str = ""
    file_path: str | None = None  # local file, for page previews of PDFs
    # The sentences of the passage that support the answer (highlighted in the UI).
    highlights: list[str] = field(default_factory=list)
    doc_type: str = DOCUMENT_TYPE  # the document's declared type tag (« Baromètre »), shown beside it

    def label(self) -> str:
        """Short reference for humans: "Titre (2023), p. 4 — Section"."""
        parts = [self.title]
        if self.year:
            parts[0] += f" ({self.year})"
        if self.page is not None:
            parts.append(f"p. {self.page}")
        if self.section and self.section != self.title:
            parts.append(self.section)
        return " — ".join(parts)


@dataclass
class Answer:
    """What ``Assistant.ask`` returns.

    ``text`` holds ``[n]`` markers that refer to ``citations`` (only passages actually cited);
    ``unsupported`` lists figures of ``text`` that no cited passage contains; ``abstained`` is
    True when the documents do not answer (``text`` then says so, with no figure).
    """

    question: str
    text: str
    citations: list[Citation] = field(default_factory=list)
    abstained: bool = False
    unsupported: list[str] = field(default_factory=list)
    mode: str = "extractive"  # the mode that produced the text
    fallback_from: str | None = None  # the mode asked for, when it failed and extractive answered
    model: str | None = None
    notice: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    language: str = "fr"
    # The question as the assistant read it, when it differs from ``question``: an elliptic
    # follow-up read with the conversation (« Et les métropoles ? » -> « Quelle part des
    # collectivités …, pour les métropoles ? »). Shown to the reader, so a misreading is visible.
    asked: str | None = None
    # False on the first answer of an LLM mode: a written answer may still replace it (the UI
    # shows « rédaction en cours… »). The last Answer of Assistant.stream is always final.
    final: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        return self.text
