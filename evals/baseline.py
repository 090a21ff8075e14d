"""The naive LangChain RAG that note-rag replaced, kept as a yardstick.

What the first prototype did, and nothing more: the same documents (loaded by
``ingest.loaders.load_document`` from the very files the index uses), cut by
``RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=100)``, embedded into an
in-memory ``langchain_chroma.Chroma``, dense top-k search, and the answer is the top chunk
verbatim. No hybrid search, no sentence selection, no follow-up handling (the history is
ignored), no abstention. Scored by the same code as note-rag (``evals.harness.evaluate``), so
the report shows what each design choice gains.

The embedding function is always given explicitly (the default of Chroma would try to
download a model) and telemetry is off. Document vectors go through note-rag's embedding
cache, which only saves time: the vectors are the ones the backend computes.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from assistant.figures import unsupported_figures
from assistant.models import Answer, Citation
from ingest.embeddings import EmbeddingCache, NoteRagEmbeddings, get_embeddings
from ingest.loaders import load_document
from ingest.settings import Settings, offline_environment
from ingest.sources import obtain, read_manifest

CHUNK_SIZE = 1000
CHUNK_OVERLAP = 100


class CachedEmbeddings(Embeddings):
    """A note-rag backend whose document vectors are read from / written to the disk cache."""

    def __init__(self, backend: NoteRagEmbeddings, cache_file: Path):
        self.backend = backend
        self.cache_file = cache_file

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        cache = EmbeddingCache(self.cache_file)
        try:
            vectors, _ = cache.embed(self.backend, list(texts))
        finally:
            cache.close()
        return vectors.tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.backend.embed_query(text)


def corpus_documents(settings: Settings, paths: list[Path] | None = None) -> list[Document]:
    """Every source of corpus/sources.toml (or the given files and folders), loaded as the
    index loads them, as LangChain Documents."""
    from ingest.loaders import SUPPORTED_EXTENSIONS

    if paths is not None:
        files = [f for p in map(Path, paths) for f in (sorted(p.rglob("*")) if p.is_dir() else [p]) if f.suffix.lower() in SUPPORTED_EXTENSIONS]
        pairs = [(f, None) for f in files]
    else:  # the copy the index was built from
        pairs = [(obtain(source, settings), source.info()) for source in read_manifest(settings.sources_file)]
    documents = []
    for path, info in pairs:
        loaded = load_document(path, info, max_file_mb=settings.max_file_mb)
        text = "\n\n".join(text for block in loaded.blocks if (text := block.plain_text().strip()))
        info = loaded.info
        metadata = {"doc_id": info.doc_id, "title": info.title, "kind": info.kind, "source": info.source}
        if info.year is not None:
            metadata["year"] = info.year
        documents.append(Document(page_content=text, metadata=metadata))
    return documents


@dataclass
class _Chunk:
    """Just enough of a StoredChunk for the harness (``.doc_id``, ``.text``)."""

    id: str
    doc_id: str
    text: str
    title: str = ""
    kind: str = ""
    year: int | None = None


@dataclass
class _Passage:
    chunk: _Chunk
    score: float


class NaiveBaseline:
    """Dense top-k over 1000-character chunks; the answer is the best chunk; never abstains."""

    def __init__(
        self,
        settings: Settings,
        embeddings: str = "e5-small",
        chunk_size: int = CHUNK_SIZE,
        chunk_overlap: int = CHUNK_OVERLAP,
        *,
        paths: list[Path] | None = None,
        cache: bool = True,
    ):
        """``paths``: these files instead of corpus/sources.toml; ``cache=False``: embed every
        chunk (the prototype had no cache: the benchmark times it as it was)."""
        offline_environment()
        import chromadb
        from chromadb.config import Settings as ChromaSettings
        from langchain_chroma import Chroma
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        self.embeddings_name = embeddings
        backend = get_embeddings(embeddings)
        self.embedding_function = CachedEmbeddings(backend, Path(settings.model_cache_dir) / "embeddings.sqlite") if cache else backend
        splitter = RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap)
        self.documents = corpus_documents(settings, paths)
        self.chunks = splitter.split_documents(self.documents)
        for position, chunk in enumerate(self.chunks):
            chunk.metadata["chunk_id"] = f"{chunk.metadata['doc_id']}#{position}"
        client = chromadb.EphemeralClient(settings=ChromaSettings(anonymized_telemetry=False))
        self.store = Chroma(
            collection_name=f"naive_{uuid.uuid4().hex[:12]}",
            embedding_function=self.embedding_function,
            client=client,
            client_settings=ChromaSettings(anonymized_telemetry=False),
        )
        self.store.add_documents(self.chunks, ids=[c.metadata["chunk_id"] for c in self.chunks])

    def close(self) -> None:
        try:
            self.store.delete_collection()
        except Exception:  # noqa: BLE001 - best effort, in-memory anyway
            pass

    def _search(self, question: str, k: int) -> list[tuple[Document, float]]:
        return self.store.similarity_search_with_score(question, k=k)

    def retrieve(self, question: str, history: Any = None, *, k: int | None = 10, kind: str | None = None, **_: Any) -> list[_Passage]:
        """Dense top-k (``kind`` and ``history`` are ignored: the prototype had neither).

        ``k=None``: what the answerer sees, the top chunk alone.
        """
        k = k or 1
        return [
            _Passage(
                _Chunk(
                    id=d.metadata["chunk_id"],
                    doc_id=d.metadata["doc_id"],
                    text=d.page_content,
                    title=d.metadata.get("title", ""),
                    kind=d.metadata.get("kind", ""),
                    year=d.metadata.get("year"),
                ),
                float(score),
            )
            for d, score in self._search(question, k)
        ]

    def ask(self, question: str, history: Any = None, **_: Any) -> Answer:
        started = time.perf_counter()
        top = self.retrieve(question, k=1)
        if not top:
            return Answer(question=question, text="", mode="naive", timings={"total": time.perf_counter() - started})
        chunk = top[0].chunk
        citation = Citation(
            n=1,
            doc_id=chunk.doc_id,
            title=chunk.title,
            kind=chunk.kind,
            year=chunk.year,
            page=None,
            section="",
            text=chunk.text,
            score=top[0].score,
            chunk_id=chunk.id,
        )
        text = f"{chunk.text} [1]"
        return Answer(
            question=question,
            text=text,
            citations=[citation],
            abstained=False,
            unsupported=unsupported_figures(text, [chunk.text]),
            mode="naive",
            model=f"langchain-chroma + {self.embeddings_name}",
            timings={"total": time.perf_counter() - started},
        )
