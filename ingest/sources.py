"""corpus/sources.toml: what the corpus is made of, and getting remote sources onto disk.

A source is a file inside ``corpus/`` (``path``), a remote file (``url``, optional ``sha256``),
or both: a remote file whose copy ships in ``corpus/`` so that a fresh clone works offline.
Remote-only files land in a cache folder under the index directory. They are taken, in order,
from: a mirror folder (``--mirror`` / ``NOTE_RAG_MIRROR``, matched by file name), the cache (no
network needed once fetched), then the network. ``python -m ingest fetch`` refreshes the cache,
and the shipped copies, on purpose (a shipped copy is replaced only by a file whose SHA-256
matches the manifest).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .kinds import DOCUMENT_TYPE, kind_key
from .models import DocumentInfo, file_sha256
from .settings import Settings


class SourceError(RuntimeError):
    """A source that could not be obtained; the message is one line, in French."""


@dataclass(frozen=True)
class Source:
    id: str
    title: str
    kind: str
    year: int | None
    publisher: str | None
    license: str | None
    path: str | None = None
    url: str | None = None
    sha256: str | None = None
    filename: str | None = None  # name in the cache and in a mirror (default: the URL's)
    doc_type: str = DOCUMENT_TYPE  # the manifest's ``type``
    label: str | None = None
    label_en: str | None = None
    label_short: str | None = None

    @property
    def local_name(self) -> str:
        if self.filename:
            return self.filename
        if self.path:
            return Path(self.path).name
        if self.url:
            return Path(self.url.split("?")[0]).name
        return self.id

    def info(self) -> DocumentInfo:
        return DocumentInfo(
            doc_id=self.id,
            title=self.title,
            kind=self.kind,
            year=self.year,
            source=self.url or (self.path or ""),
            publisher=self.publisher,
            license=self.license,
            doc_type=self.doc_type,
            label=self.label,
            label_en=self.label_en,
            label_short=self.label_short,
        )


NAME_KEYS = ("type", "label", "label_en", "label_short")  # how answers and the UI name a document


def read_manifest(path: Path) -> list[Source]:
    """Parse corpus/sources.toml; a malformed entry is a clear error naming it."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise SourceError(f"manifeste introuvable : {path}") from error
    except tomllib.TOMLDecodeError as error:
        raise SourceError(f"{path} : TOML invalide ({error})") from error
    sources: list[Source] = []
    for number, entry in enumerate(data.get("source", []), start=1):
        missing = [key for key in ("id", "title") if not entry.get(key)]
        if missing or not (entry.get("path") or entry.get("url")):
            raise SourceError(
                f"{path}, source n°{number} : il faut id, title et path ou url (manquant : {', '.join(missing) or 'path/url'})"
            )
        names = {key: entry.get(key) for key in NAME_KEYS}
        wrong = [key for key, value in names.items() if value is not None and not (isinstance(value, str) and value.strip())]
        if wrong:
            raise SourceError(f"{path}, source n°{number} ({entry['id']}) : {', '.join(wrong)} doit être un texte non vide")
        sources.append(
            Source(
                id=str(entry["id"]),
                title=str(entry["title"]),
                kind=kind_key(entry.get("kind") or names["type"]),  # an undeclared type gives "document"
                doc_type=(names["type"] or DOCUMENT_TYPE).strip(),
                label=names["label"],
                label_en=names["label_en"],
                label_short=names["label_short"],
                year=int(entry["year"]) if entry.get("year") else None,
                publisher=entry.get("publisher"),
                license=entry.get("license"),
                path=entry.get("path"),
                url=entry.get("url"),
                sha256=(entry.get("sha256") or "").lower() or None,
                filename=entry.get("filename"),
            )
        )
    return sources


def cache_dir(settings: Settings) -> Path:
    return Path(settings.index_dir) / "sources"


def _verify(source: Source, path: Path) -> None:
    if source.sha256 and file_sha256(path) != source.sha256:
        raise SourceError(
            f"{source.id} : l'empreinte SHA-256 de {path.name} ne correspond pas à celle de sources.toml "
            "(fichier modifié en amont ? mettez à jour sha256)"
        )


def _copy_atomic(origin: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False, suffix=".part") as handle:
        temporary = Path(handle.name)
    try:
        shutil.copyfile(origin, temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def _download(source: Source, target: Path, timeout: float) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    request = urllib.request.Request(source.url or "", headers={"User-Agent": "note-rag/0.1"})
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False, suffix=".part") as handle:
        temporary = Path(handle.name)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                shutil.copyfileobj(response, handle)
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            temporary.unlink(missing_ok=True)
            reason = getattr(error, "reason", error)
            raise SourceError(
                f"{source.id} : téléchargement impossible ({reason}) ; hors ligne, fournissez le fichier "
                f"« {source.local_name} » avec --mirror DOSSIER ou NOTE_RAG_MIRROR"
            ) from error
    try:
        _verify(source, temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def _in_mirror(source: Source, mirror: Path) -> Path | None:
    suffix = Path(source.local_name).suffix
    for name in (source.local_name, f"{source.id}{suffix}"):
        candidate = mirror / name
        if candidate.is_file():
            return candidate
    return None


def obtain(source: Source, settings: Settings, refresh: bool = False) -> Path:
    """Local path of a source, fetching it if needed (see module docstring for the order)."""
    if source.path:
        path = Path(source.path)
        path = path if path.is_absolute() else Path(settings.corpus_dir) / path
        if not source.url or (path.exists() and not refresh):
            return path
        target = path  # a shipped copy of a remote file: refreshed in place
    else:
        target = cache_dir(settings) / source.local_name
    mirror = Path(settings.mirror).expanduser() if settings.mirror else None
    if mirror is not None:
        found = _in_mirror(source, mirror)
        if found is not None:
            _verify(source, found)
            if not target.exists() or file_sha256(target) != file_sha256(found):
                _copy_atomic(found, target)
            return target
        if not refresh and target.exists():
            return target
        raise SourceError(f"{source.id} : « {source.local_name} » absent du miroir {mirror}")
    if target.exists() and not refresh:
        return target
    _download(source, target, settings.fetch_timeout)
    return target


def fetch_all(settings: Settings, refresh: bool = True) -> list[tuple[Source, Path | None, str | None]]:
    """Obtain every remote source; one failure never stops the others."""
    results: list[tuple[Source, Path | None, str | None]] = []
    for source in read_manifest(settings.sources_file):
        if not source.url:
            continue
        try:
            results.append((source, obtain(source, settings, refresh=refresh), None))
        except SourceError as error:
            results.append((source, None, str(error)))
    return results
