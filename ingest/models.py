"""The data that flows through ingestion: documents, blocks, chunks and the report.

Named after the domain (a chunk has a ``page`` and a ``section``) so that every later stage,
up to the citation shown to the reader, speaks the same language.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from .kinds import DOCUMENT_KIND, DOCUMENT_TYPE

BlockRole = Literal["text", "caption", "list", "table", "label"]
UnitKind = Literal["sentence", "list", "row", "caption", "label"]


@dataclass(frozen=True)
class DocumentInfo:
    """Who wrote a document and when: what a citation shows next to the passage."""

    doc_id: str  # file stem: stable, readable, used in filters and evals
    title: str
    kind: str = DOCUMENT_KIND  # filter key (a slug)
    year: int | None = None
    source: str = ""  # path inside the corpus, or URL of a remote source
    publisher: str | None = None
    license: str | None = None
    # How answers and the UI name it, as declared (manifest, front matter); see ingest.kinds.
    doc_type: str = DOCUMENT_TYPE  # tag next to a citation: « Baromètre »
    label: str | None = None  # « D'après {label} 2023 : »
    label_en: str | None = None  # "According to {label_en} 2023:"
    label_short: str | None = None  # passage header in LLM prompts

    def undeclared(self) -> "DocumentInfo":
        """The same document without the kind and names it declares about itself.

        For files readers upload: their front matter could claim a shipped document's type or
        label (declared in sources.toml), and answers would then quote
        an upload as that document. Their own title, id and year stay.
        """
        return replace(self, kind=DOCUMENT_KIND, doc_type=DOCUMENT_TYPE, label=None, label_en=None, label_short=None)


@dataclass
class Block:
    """A structural piece of a loaded document, before it is cut into units and chunks.

    Every loader (PDF, Markdown, HTML, text) produces the same kinds of block, so that the
    same chapter gives the same passages whatever format it was shipped in:

    - ``text``: a paragraph (``text``), quoted sentence by sentence;
    - ``list``: ``items``, introduced by the sentence in ``text`` (its lead-in, "Vous êtes
      concerné si :"), which may be empty; quoted as one unit, lead-in included;
    - ``table``: ``header`` and ``rows`` (``text``: the sentence introducing it, if any);
      each row is quoted with its column headers;
    - ``label``: the title of an admonition or box ("Lexique : Schéma de données"), kept as
      context for the body that follows, never quoted on its own;
    - ``caption``: the text printed under a figure or chart (a survey question, a source):
      kept for retrieval context, never quoted as an answer.
    """

    text: str = ""
    page: int | None = None
    section: str = ""
    role: BlockRole = "text"
    items: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)

    def plain_text(self) -> str:
        """The whole block as running text (what a naive pipeline reading the file would see)."""
        parts = [self.text] if self.text else []
        parts += self.items
        if self.header:
            parts.append(" ".join(self.header))
        parts += [" ".join(row) for row in self.rows]
        return "\n".join(p for p in parts if p)


@dataclass
class LoadedDocument:
    info: DocumentInfo
    blocks: list[Block]
    pages: int | None = None  # number of pages for paginated formats
    warnings: list[str] = field(default_factory=list)
    path: Path | None = None  # the file on disk (absolute), for page previews


@dataclass
class Unit:
    """The smallest piece an answer quotes: a sentence, a list with its lead-in, a table row.

    Units are embedded at indexing time (except captions and labels) for the extractive
    answerer; a chunk's text is its units joined, so a quoted unit always lies inside the
    chunk it cites.
    """

    text: str
    position: int  # order inside the chunk
    kind: UnitKind = "sentence"

    @property
    def quotable(self) -> bool:
        return self.kind not in ("caption", "label")


@dataclass
class Chunk:
    """The unit stored in Chroma and cited in answers."""

    doc: DocumentInfo
    text: str
    page: int | None
    section: str
    position: int  # order inside the document
    content_hash: str  # fingerprint of the file, its declared metadata and the chunking settings
    units: list[Unit] = field(default_factory=list)
    file_path: str | None = None  # absolute path of the file (the citation's page preview)
    doc_pages: int | None = None  # pages of the whole document (PDF)

    @property
    def id(self) -> str:
        """Stable id: the same text at the same place of the same document keeps its id."""
        key = f"{self.doc.doc_id}\x1f{self.page}\x1f{self.text}"
        return f"{self.doc.doc_id}:{hashlib.sha256(key.encode()).hexdigest()[:16]}"

    def embedding_text(self) -> str:
        return embedding_text(self.section, self.text, self.doc.title)


@dataclass
class DocumentResult:
    """What happened to one document during an ingest run."""

    path: str
    doc_id: str | None = None
    status: Literal["added", "updated", "unchanged", "removed", "failed"] = "unchanged"
    pages: int | None = None
    chunks: int = 0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class IngestReport:
    """Summary of one ``build_index`` run, printed by the CLI and returned to Python callers."""

    index: str
    embeddings: str
    documents: list[DocumentResult] = field(default_factory=list)
    chunks_added: int = 0
    chunks_updated: int = 0
    chunks_removed: int = 0
    chunks_unchanged: int = 0
    chunks_embedded: int = 0  # chunks + units actually sent to the embedder (cache misses)
    seconds: float = 0.0
    generation: int | None = None

    @property
    def failed(self) -> list[DocumentResult]:
        return [d for d in self.documents if d.status == "failed"]

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def pages(self) -> int:
        return sum(d.pages or 0 for d in self.documents if d.status != "failed")

    @property
    def chunks_total(self) -> int:
        return self.chunks_added + self.chunks_updated + self.chunks_unchanged


#: Joins a section's heading path (« Guide > Chapitre > Partie »): loaders write it, the
#: embedder reads it after the title, answers and the chat show its last level or the whole.
SECTION_SEPARATOR = " > "


def innermost_heading(section: str) -> str:
    """The last level of a section's heading path: the heading a passage stands under."""
    return section.split(SECTION_SEPARATOR)[-1].strip() if section else ""


def embedding_text(section: str, text: str, title: str = "") -> str:
    """What the embedder and BM25 see: the document's title and the heading path give context
    the text lacks (readers name a guide by its title: « le guide sur la voirie
    communale », and a chapter's passages rarely repeat it).

    One definition for the chunks being indexed and the chunks read back from Chroma: the
    BM25 index built at query time must see exactly what the embedder saw.
    """
    head = SECTION_SEPARATOR.join(part for part in (title, section) if part)
    return f"{head}\n{text}" if head else text


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
