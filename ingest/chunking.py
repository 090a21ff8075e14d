"""Blocks -> chunks that never cut a sentence, never cross a page, and know their section.

Sentences come from ``ingest.text.split_sentences`` and are laid out one per line before
LangChain's ``RecursiveCharacterTextSplitter`` packs them: its separators then fall on
paragraph breaks first, sentence breaks second, and only a sentence longer than a chunk is
ever cut (at "; " or ", "). The same lines become the chunk's ``sentences``, embedded for the
extractive answerer, so a quoted sentence always lies inside the chunk it cites.
"""

from __future__ import annotations

from itertools import groupby

from langchain_text_splitters import RecursiveCharacterTextSplitter

from .models import Chunk, LoadedDocument, Sentence
from .text import split_sentences

FRENCH_SEPARATORS = ["\n\n", "\n", "; ", " : ", ", ", " – ", " ", ""]


def make_splitter(chunk_size: int, chunk_overlap: int) -> RecursiveCharacterTextSplitter:
    return RecursiveCharacterTextSplitter(
        separators=FRENCH_SEPARATORS,
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        keep_separator="end",
        strip_whitespace=True,
    )


def chunk_document(document: LoadedDocument, content_hash: str, chunk_size: int = 600, chunk_overlap: int = 0) -> list[Chunk]:
    """Cut a loaded document into chunks grouped by (page, section)."""
    splitter = make_splitter(chunk_size, chunk_overlap)
    chunks: list[Chunk] = []
    caption_sentences = {
        sentence for block in document.blocks if block.role == "caption" for sentence in split_sentences(block.text)
    }
    for (page, section), group in groupby(document.blocks, key=lambda b: (b.page, b.section)):
        paragraphs = ["\n".join(split_sentences(block.text)) for block in group]
        text = "\n\n".join(p for p in paragraphs if p)
        for piece in splitter.split_text(text):
            lines = [line.strip() for line in piece.split("\n") if line.strip()]
            if not lines:
                continue
            sentences = [
                Sentence(text=line, position=i, is_caption=line in caption_sentences) for i, line in enumerate(lines)
            ]
            chunks.append(
                Chunk(
                    doc=document.info,
                    text=" ".join(lines),
                    page=page,
                    section=section,
                    position=len(chunks),
                    content_hash=content_hash,
                    sentences=sentences,
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
