"""build_index: files -> loaders -> chunks -> embeddings -> a new Chroma generation.

Incremental and idempotent: a document whose fingerprint (file bytes, declared metadata,
chunking settings, pipeline version) is unchanged keeps its chunks and vectors, listed as they
are by the next generation (nothing is copied); an unchanged corpus creates no generation at
all and embeds nothing. A document that fails to load keeps its previous chunks (nothing is
lost on failure) and is reported; the run then exits non-zero.

Writers take turns (``IndexStore.lock``: a flock on one machine, a lease held in the Chroma
server otherwise). Against a server shared by several machines, a full ingest removes only the
unlisted documents this machine and index folder wrote: another machine's documents stay.
"""

from __future__ import annotations

import hashlib
from contextlib import contextmanager
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from .chunking import chunk_document
from .embeddings import EmbeddingCache, NoteRagEmbeddings, get_embeddings
from .loaders import SUPPORTED_EXTENSIONS, LoaderError, load_document
from .models import Chunk, DocumentInfo, DocumentResult, IngestReport, file_sha256
from .settings import Settings, get_settings
from .sources import SourceError, obtain, read_manifest
from .store import IndexStore, WriteLock, index_lock, writer_id

# Bump when loaders or chunking change what they produce: every document is then re-chunked.
PIPELINE_VERSION = "11"  # 11: a note call set in superscript is left out of the text; 10: a static site page source (front matter) is read whole, not through trafilatura; template tags, shortcodes and attribute lists out of Markdown; a repeated date in the margin is furniture whatever its size; 9: a list item that announces is the lead-in of the list after it, and keeps its colon; a PDF outline that bookmarks paragraphs gives no headings; 8: sentence ends read in ingest/patterns.py (curly quotes close a sentence); 7: PDFs as layout tools set them (sizes from the text matrix, columns, bullets, page breaks) (6: declared type and labels; 5: PDF tables set tight; 4: titles embedded)


@dataclass
class Target:
    """A document to index: where it is on disk and what the manifest says about it."""

    path: Path
    info: DocumentInfo | None = None
    error: str | None = None  # could not even be obtained (remote source offline…)
    label: str = ""

    @property
    def doc_id(self) -> str:
        return self.info.doc_id if self.info else self.path.stem


def uploads_dir(settings: Settings) -> Path:
    """Files added from the UI: part of the corpus on every full ingest."""
    return Path(settings.index_dir) / "uploads"


def is_upload(path: Path, settings: Settings) -> bool:
    """A file a reader sent from the UI (it lives in uploads/), whichever run indexes it: it
    keeps its own title and id but never the kind or names its metadata claims."""
    try:
        return path.resolve().is_relative_to(uploads_dir(settings).resolve())
    except OSError:
        return False


def corpus_targets(settings: Settings) -> list[Target]:
    """Every source of corpus/sources.toml (remote ones obtained), plus UI uploads."""
    targets: list[Target] = []
    for source in read_manifest(settings.sources_file):
        label = source.url or source.path or source.id
        try:
            targets.append(Target(path=obtain(source, settings), info=source.info(), label=label))
        except SourceError as error:
            targets.append(Target(path=Path(source.local_name), info=source.info(), error=str(error), label=label))
    uploads = uploads_dir(settings)
    if uploads.is_dir():
        targets.extend(Target(path=p, label=str(p)) for p in sorted(uploads.iterdir()) if p.is_file())
    return targets


def path_targets(paths: list[Path | str]) -> list[Target]:
    """Explicit files; a folder stands for the supported files inside it."""
    targets: list[Target] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            targets.extend(
                Target(path=p, label=str(p))
                for p in sorted(path.rglob("*"))
                if p.is_file() and p.suffix.lower() in SUPPORTED_EXTENSIONS
            )
        else:
            targets.append(Target(path=path, label=str(path)))
    return targets


def fingerprint(target: Target, settings: Settings) -> str:
    declared = json.dumps(asdict(target.info), sort_keys=True, ensure_ascii=False) if target.info else ""
    key = "\x1f".join(
        [
            PIPELINE_VERSION,
            file_sha256(target.path),
            str(target.path.resolve()),  # a moved corpus refreshes the paths used for page previews
            declared,
            str(settings.chunk_size),
            str(settings.chunk_overlap),
        ]
    )
    return hashlib.sha256(key.encode()).hexdigest()


def build_index(
    paths: list[Path | str] | None = None,
    index_dir: Path | str | None = None,
    embeddings: str | NoteRagEmbeddings | None = None,
    mirror: Path | str | None = None,
    rebuild: bool = False,
    *,
    settings: Settings | None = None,
    progress: bool = True,
) -> IngestReport:
    """Index ``paths`` (added or updated, the rest kept) or, with no paths, the whole corpus
    of corpus/sources.toml plus uploads (documents no longer listed are removed)."""
    settings = (settings or get_settings()).with_overrides(
        index_dir=index_dir, mirror=mirror, embeddings=embeddings if isinstance(embeddings, str) else None
    )
    with writing(settings) as (store, lock):
        return _build(paths, embeddings, rebuild, settings, progress, store, lock)


@contextmanager
def writing(settings: Settings) -> Iterator[tuple[IndexStore, WriteLock]]:
    """The index, held by this writer alone (CLI, UI upload, evals), until the block ends.

    With a Chroma server the lease lives in the server, since machines share no filesystem;
    otherwise a lock file of the index folder.
    """
    if settings.chroma_url:
        store = IndexStore(settings)
        with store.lock() as lock:
            yield store, lock
    else:
        with index_lock(settings) as lock:
            yield IndexStore(settings), lock


def _build(paths, embeddings, rebuild: bool, settings: Settings, progress: bool, store: IndexStore, lock: WriteLock) -> IngestReport:
    started = time.perf_counter()
    full_sync = not paths
    current = store.current()
    if isinstance(embeddings, NoteRagEmbeddings):
        backend_name = embeddings.name
    elif current is not None and "embeddings" not in settings.model_fields_set:
        backend_name = current.embeddings_name  # keep the index's backend unless asked otherwise
    else:
        backend_name = settings.embeddings
    reembed_all = rebuild or (current is not None and current.embeddings_name != backend_name)
    if reembed_all and current is not None and not full_sync:
        raise ValueError(
            "reconstruire l'index (--rebuild ou autres embeddings) réindexe tout le corpus : relancez sans chemin de fichier"
        )
    targets = corpus_targets(settings) if full_sync else path_targets(list(paths or []))
    report = IngestReport(index=store.location, embeddings=backend_name)
    previous = current.manifest() if current is not None else {}

    new_chunks: dict[str, list[Chunk]] = {}  # doc_id -> chunks to embed
    kept: list[str] = []  # doc_ids whose records are copied unchanged
    seen: dict[str, str] = {}
    for target in targets:
        result = DocumentResult(path=target.label or str(target.path), doc_id=target.doc_id)
        report.documents.append(result)
        if target.error:
            result.status, result.error = "failed", target.error
            if target.doc_id in previous:
                kept.append(target.doc_id)  # an unreachable source keeps its indexed version
            continue
        if target.doc_id in seen:
            result.status = "failed"
            result.error = f"doc_id « {target.doc_id} » déjà utilisé par {seen[target.doc_id]} : renommez l'un des fichiers"
            continue
        seen[target.doc_id] = result.path
        try:
            if not target.path.is_file():
                raise LoaderError("fichier introuvable" if not target.path.exists() else "ce n'est pas un fichier")
            content_hash = fingerprint(target, settings)
            old = previous.get(target.doc_id)
            if old and old["content_hash"] == content_hash and not reembed_all:
                result.status, result.chunks, result.pages = "unchanged", int(old.get("chunks") or 0), old.get("pages")
                kept.append(target.doc_id)
                continue
            document = load_document(
                target.path,
                target.info,
                max_file_mb=settings.max_file_mb,
                max_pages=settings.max_pages,
                timeout=settings.parse_timeout,
                upload=is_upload(target.path, settings),
            )
            chunks = chunk_document(document, content_hash, settings.chunk_size, settings.chunk_overlap)
        except LoaderError as error:
            result.status, result.error = "failed", str(error)
            if target.doc_id in previous:
                kept.append(target.doc_id)  # the previous version stays searchable
            continue
        except OSError as error:
            result.status, result.error = "failed", f"lecture impossible : {error.strerror or error}"
            if target.doc_id in previous:
                kept.append(target.doc_id)
            continue
        result.status = "updated" if target.doc_id in previous else "added"
        result.pages, result.chunks, result.warnings = document.pages, len(chunks), document.warnings
        new_chunks[target.doc_id] = chunks

    listed = {t.doc_id for t in targets}
    me = writer_id(settings)
    removed = [
        doc_id
        for doc_id in previous
        if full_sync and doc_id not in listed and (not settings.chroma_url or previous[doc_id].get("writer") in (None, me))
    ]
    if full_sync:  # another machine's documents, on a shared server, are not ours to remove
        kept.extend(doc_id for doc_id in previous if doc_id not in listed and doc_id not in removed)
    if not full_sync:
        kept.extend(doc_id for doc_id in previous if doc_id not in seen and doc_id not in kept)
    for doc_id in removed:
        report.documents.append(DocumentResult(path=str(previous[doc_id].get("source") or doc_id), doc_id=doc_id, status="removed"))

    report.chunks_unchanged = sum(int(previous[doc_id].get("chunks") or 0) for doc_id in set(kept))
    report.chunks_removed = sum(int(previous[doc_id].get("chunks") or 0) for doc_id in removed)
    before = current.chunk_ids(d for d in new_chunks if d in previous) if current is not None else {}
    for doc_id, chunks in new_chunks.items():
        old_ids = before.get(doc_id, set())
        new_ids = {chunk.id for chunk in chunks}
        fresh = [c for c in chunks if c.id not in old_ids]
        report.chunks_unchanged += len(new_ids & old_ids)
        report.chunks_removed += len(old_ids - new_ids)
        if doc_id in previous:
            report.chunks_updated += len(fresh)
        else:
            report.chunks_added += len(fresh)

    if current is not None and not new_chunks and not removed and not reembed_all:
        report.generation = current.number
        report.seconds = time.perf_counter() - started
        return report  # nothing changed: no new generation, nothing embedded

    backend = embeddings if isinstance(embeddings, NoteRagEmbeddings) else get_embeddings(backend_name)
    all_new = [chunk for chunks in new_chunks.values() for chunk in chunks]
    chunk_vectors, sentence_records, computed = _embed(all_new, backend, settings, progress)
    report.chunks_embedded = computed

    changes: dict[str, dict | None] = {doc_id: None for doc_id in removed}
    changes.update(store.stage(all_new, chunk_vectors, sentence_records, backend.name, backend.dimension, me))
    if current is not None and current.legacy and not reembed_all:
        changes.update(store.stage_legacy(current, [d for d in dict.fromkeys(kept) if d not in changes], me))

    def pause() -> None:
        if settings.crash_test_pause:
            # Test hook: the SIGKILL test kills a real run at its most delicate moment (new
            # records written, generation not published) and checks readers get the previous one.
            print("crash-test: generation written, pausing before commit", file=sys.stderr, flush=True)
            time.sleep(settings.crash_test_pause)

    generation, replaced = store.publish(
        current, changes, backend.name, backend.dimension, fresh=reembed_all, check=lock.check, pause=pause
    )
    store.retire(generation, replaced)
    report.generation = generation.number
    report.seconds = time.perf_counter() - started
    return report


def _embed(chunks: list[Chunk], backend: NoteRagEmbeddings, settings: Settings, progress: bool):
    """Vectors for chunks and for their quotable units (sentences, lists, table rows), through the disk cache."""
    sentence_ids: list[str] = []
    sentence_texts: list[str] = []
    sentence_metas: list[dict] = []
    for chunk in chunks:
        for unit in chunk.units:
            if not unit.quotable:
                continue
            sentence_ids.append(f"{chunk.id}:{unit.position}")
            sentence_texts.append(unit.text)
            meta = {"chunk_id": chunk.id, "doc_id": chunk.doc.doc_id, "kind": chunk.doc.kind, "position": unit.position, "unit": unit.kind}
            if chunk.doc.year is not None:
                meta["year"] = chunk.doc.year
            sentence_metas.append(meta)
    texts = [c.embedding_text() for c in chunks] + sentence_texts
    cache = EmbeddingCache(Path(settings.model_cache_dir) / "embeddings.sqlite")
    bar = None

    def start(total: int) -> None:
        nonlocal bar
        if progress and total:
            from tqdm import tqdm

            bar = tqdm(total=total, desc="Embeddings", unit="texte", file=sys.stderr, leave=False)

    try:
        vectors, computed = cache.embed(backend, texts, on_start=start, on_batch=lambda n: bar.update(n) if bar else None)
    finally:
        if bar is not None:
            bar.close()
        cache.close()
    chunk_vectors = vectors[: len(chunks)] if len(chunks) else np.zeros((0, backend.dimension), dtype=np.float32)
    sentence_vectors = vectors[len(chunks) :]
    return chunk_vectors, (sentence_ids, sentence_vectors, sentence_texts, sentence_metas), computed


UPLOAD_EXTENSIONS = (".pdf", ".md", ".markdown", ".txt")  # what readers may add from the UI


def add_upload(uploaded: Path, filename: str, settings: Settings, progress: bool = False) -> IngestReport:
    """Add a file sent from the UI to the index, keeping it with the corpus for later runs.

    Validation (type, size, loadable, name free), the write into ``uploads/`` and the indexing
    happen under the index lock, so two uploads of one name cannot both pass the check. A file
    whose name is already taken by a different document is refused (nothing is replaced
    behind the reader's back); sending the very same file again changes nothing. If indexing
    fails, the file is removed again: a bad upload leaves both the folder and the index as they
    were. Raises ``LoaderError`` with a French reason.
    """
    name = Path(filename).name
    if Path(name).suffix.lower() not in UPLOAD_EXTENSIONS:
        raise LoaderError(f"type de fichier refusé « {Path(name).suffix or name} » : PDF, Markdown ou texte seulement")
    if Path(name).stem in _manifest_ids(settings):
        raise LoaderError(f"« {Path(name).stem} » est le nom d'un document du corpus : renommez le fichier avant de l'envoyer")
    target = uploads_dir(settings) / name
    with writing(settings) as (store, lock):
        load_document(  # validates
            Path(uploaded),
            max_file_mb=min(settings.max_file_mb, settings.upload_max_mb),
            max_pages=settings.max_pages,
            timeout=settings.parse_timeout,
            upload=True,
        )
        if target.exists():
            if file_sha256(target) == file_sha256(Path(uploaded)):
                return _build([target], None, False, settings, progress, store, lock)  # the same file again: unchanged
            raise LoaderError(
                f"un fichier « {name} » a déjà été ajouté, avec un autre contenu : renommez le nouveau fichier "
                "(l'ancien reste dans l'index, rien n'a été remplacé)"
            )
        current = store.current()
        indexed = current.manifest().get(Path(name).stem) if current is not None else None
        if indexed:
            raise LoaderError(f"un document « {Path(name).stem} » est déjà indexé : renommez le fichier avant de l'envoyer")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(Path(uploaded).read_bytes())
        try:
            report = _build([target], None, False, settings, progress, store, lock)
        except Exception:
            target.unlink(missing_ok=True)
            raise
        if not report.ok:
            target.unlink(missing_ok=True)
            raise LoaderError(report.failed[0].error or "échec de l'indexation")
        return report


def _manifest_ids(settings: Settings) -> set[str]:
    """Ids of corpus/sources.toml, which an upload may not take even before they are indexed
    (a remote source still offline): the next full ingest would otherwise refuse one of them."""
    try:
        return {source.id for source in read_manifest(settings.sources_file)}
    except SourceError:
        return set()
