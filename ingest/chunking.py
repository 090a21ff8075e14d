"""Units -> chunks that never cut a unit, never cross a page, and know their section.

A chunk is what retrieval returns and what a citation shows; a unit (``ingest.structure``)
is what an answer quotes. Units are packed greedily into chunks of at most ``chunk_size``
characters, in reading order, within one (page, section); a label ("Lexique : Schéma de
données") always opens the chunk of the body it introduces. Only a single unit longer than a
chunk is ever cut, by LangChain's ``RecursiveCharacterTextSplitter`` at "; ", " : " or ", ".
The chunk's text is its units joined by spaces, so a quoted unit always lies inside the chunk
it cites.
"""

from __future__ import annotations

from itertools import groupby

from langchain_text_splitters import RecursiveCharacterTextSplitter

from .models import Chunk, LoadedDocument, Unit, UnitKind
from .structure import units_of

FRENCH_SEPARATORS = ["\n\n", "\n", "; ", " : ", ", ", " – ", " ", ""]


def make_splitter(chunk_size: int, chunk_overlap: int = 0) -> RecursiveCharacterTextSplitter:
    return RecursiveCharacterTextSplitter(
        separators=FRENCH_SEPARATORS,
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        keep_separator="end",
        strip_whitespace=True,
    )


def _pack(units: list[tuple[str, UnitKind]], chunk_size: int, chunk_overlap: int) -> list[list[tuple[str, UnitKind]]]:
    """Greedy packing of units into groups of at most ``chunk_size`` characters."""
    splitter = make_splitter(chunk_size)
    pieces: list[tuple[str, UnitKind]] = []
    for text, kind in units:
        if len(text) <= chunk_size:
            pieces.append((text, kind))
        else:
            pieces.extend((piece, kind) for piece in splitter.split_text(text) if piece.strip())
    groups: list[list[tuple[str, UnitKind]]] = []
    current: list[tuple[str, UnitKind]] = []
    size = 0
    for text, kind in pieces:
        if current and size + 1 + len(text) > chunk_size:
            carried: list[tuple[str, UnitKind]] = []
            while current and current[-1][1] == "label":  # a label opens the chunk of its body
                carried.insert(0, current.pop())
            if current:
                groups.append(current)
                overlap: list[tuple[str, UnitKind]] = []
                for unit in reversed(current):
                    if sum(len(u[0]) + 1 for u in overlap) + len(unit[0]) > chunk_overlap:
                        break
                    overlap.insert(0, unit)
                carried = overlap + carried
            current = carried
            size = sum(len(u[0]) + 1 for u in current)
        current.append((text, kind))
        size += len(text) + 1
    if current:
        groups.append(current)
    return groups


def chunk_document(document: LoadedDocument, content_hash: str, chunk_size: int = 600, chunk_overlap: int = 0) -> list[Chunk]:
    """Cut a loaded document into chunks grouped by (page, section)."""
    chunks: list[Chunk] = []
    for (page, section), group in groupby(document.blocks, key=lambda b: (b.page, b.section)):
        units = [unit for block in group for unit in units_of(block)]
        for packed in _pack(units, chunk_size, chunk_overlap):
            if all(kind == "label" for _, kind in packed):
                continue
            chunks.append(
                Chunk(
                    doc=document.info,
                    text=" ".join(text for text, _ in packed),
                    page=page,
                    section=section,
                    position=len(chunks),
                    content_hash=content_hash,
                    units=[Unit(text=text, position=i, kind=kind) for i, (text, kind) in enumerate(packed)],
                    file_path=str(document.path) if document.path else None,
                    doc_pages=document.pages,
                )
            )
    return _unique_ids(chunks)


def _unique_ids(chunks: list[Chunk]) -> list[Chunk]:
    """Drop exact repeats (same text on the same page): they would share an id."""
    seen: set[str] = set()
    unique: list[Chunk] = []
    for chunk in chunks:
        if chunk.id not in seen:
            seen.add(chunk.id)
            unique.append(chunk)
    for position, chunk in enumerate(unique):
        chunk.position = position
    return unique
