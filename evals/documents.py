"""The evaluation corpus: which documents each split is asked over, where each file comes from.

``evals/documents.toml`` lists every document of every split, with its publisher, licence and
SHA-256. A document is either

- **in the repository**: the default corpus (``corpus/``, declared in ``corpus/sources.toml``)
  and the Etalab guides of ``evals/documents/`` (Licence Ouverte 2.0); the tests and the CI
  guard only ever need these; or
- **fetched**: a file of a public repository at a given commit (``repository``, ``commit``,
  ``source_path``, ``url``), kept out of the repository and brought into a cache
  (``.note-rag/eval-documents/``) by ``python -m evals documents``, which verifies its SHA-256.
  It takes the file from a folder (``--from DIR``, files named as in the cache or by their
  id), from a bare git mirror of the repository (``--mirror-root DIR``, holding
  ``owner+name/`` git directories), or downloads it from ``url``; a file whose SHA-256 differs
  is refused.

A split is a set of documents (``split = "train" | "dev" | "sealed-N" | "reserve"``): questions
are split by document, never by question, so a split's questions are asked over its own
documents only. ``reserve`` documents are kept for the next sealed batches: used nowhere yet.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ingest.models import file_sha256
from ingest.settings import PROJECT_ROOT, get_settings

EVALS = Path(__file__).resolve().parent
MANIFEST = EVALS / "documents.toml"


class DocumentMissing(RuntimeError):
    """A split's document is neither in the repository nor in the cache (message in French)."""


@dataclass(frozen=True)
class Document:
    id: str
    title: str
    publisher: str
    language: str
    format: str
    split: str
    licence: str
    sha256: str
    attribution: str = ""
    year: int | None = None
    path: str | None = None  # in the repository, relative to its root
    repository: str | None = None  # owner/name of a public repository
    commit: str | None = None
    source_path: str | None = None  # path inside that repository
    url: str | None = None
    file: str | None = None  # name in the cache

    @property
    def in_repository(self) -> bool:
        return self.path is not None

    @property
    def cache_name(self) -> str:
        return self.file or f"{self.id}{Path(self.source_path or self.path or '').suffix}"


def read_documents(path: Path = MANIFEST) -> list[Document]:
    """Every document of ``evals/documents.toml`` (a malformed entry is a clear error)."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    documents: list[Document] = []
    for number, entry in enumerate(data.get("document", []), start=1):
        missing = [k for k in ("id", "title", "publisher", "language", "format", "split", "licence", "sha256") if not entry.get(k)]
        if missing or not (entry.get("path") or entry.get("url")):
            raise ValueError(f"{path.name}, document n°{number} : il manque {', '.join(missing) or 'path ou url'}")
        documents.append(Document(**{k: entry[k] for k in Document.__dataclass_fields__ if k in entry}))
    ids = [d.id for d in documents]
    if len(ids) != len(set(ids)):
        raise ValueError(f"{path.name} : identifiant en double")
    return documents


def cache_dir() -> Path:
    return Path(get_settings().index_dir) / "eval-documents"


def locate(document: Document) -> Path:
    """The verified file of ``document`` (in the repository, or in the cache)."""
    path = PROJECT_ROOT / document.path if document.path else cache_dir() / document.cache_name
    if not path.is_file():
        raise DocumentMissing(
            f"{document.id} : fichier absent ({path}) ; lancez « python -m evals documents » pour le récupérer"
        )
    if file_sha256(path) != document.sha256:
        raise DocumentMissing(f"{document.id} : l'empreinte SHA-256 de {path} ne correspond pas au manifeste")
    return path


def available(document: Document) -> bool:
    try:
        locate(document)
    except DocumentMissing:
        return False
    return True


def _from_folder(document: Document, folder: Path) -> Path | None:
    for name in (document.cache_name, f"{document.id}{Path(document.cache_name).suffix}"):
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


def _from_git_mirror(document: Document, root: Path, target: Path) -> bool:
    """``git show commit:path`` from a bare mirror ``root/owner+name/…`` of the repository."""
    if not (document.repository and document.commit and document.source_path):
        return False
    base = root / document.repository.replace("/", "+")
    candidates = [base] + sorted(p for p in base.glob("**/") if (p / "HEAD").is_file()) if base.is_dir() else []
    for git_dir in candidates:
        result = subprocess.run(
            ["git", f"--git-dir={git_dir}", "show", f"{document.commit}:{document.source_path}"], capture_output=True, check=False
        )
        if result.returncode == 0:
            target.write_bytes(result.stdout)
            return True
    return False


def _download(document: Document, target: Path, timeout: float = 60.0) -> None:
    request = urllib.request.Request(document.url or "", headers={"User-Agent": "note-rag-evals/0.1"})
    with urllib.request.urlopen(request, timeout=timeout) as response, target.open("wb") as handle:
        shutil.copyfileobj(response, handle)


def fetch(document: Document, source_folder: Path | None = None, mirror_root: Path | None = None) -> tuple[str, str]:
    """Bring a fetched document into the cache, verified; returns (status, where from)."""
    if document.in_repository:
        locate(document)
        return "ok", "dépôt"
    target = cache_dir() / document.cache_name
    if target.is_file() and file_sha256(target) == document.sha256:
        return "ok", "cache"
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False, suffix=".part") as handle:
        temporary = Path(handle.name)
    try:
        origin = ""
        found = _from_folder(document, source_folder) if source_folder else None
        if found is not None:
            shutil.copyfile(found, temporary)
            origin = str(found)
        elif mirror_root is not None and _from_git_mirror(document, mirror_root, temporary):
            origin = f"miroir git {document.repository}@{document.commit[:10]}"
        else:
            try:
                _download(document, temporary)
            except (urllib.error.URLError, TimeoutError, OSError) as error:
                return "absent", f"téléchargement impossible ({getattr(error, 'reason', error)})"
            origin = document.url or ""
        if file_sha256(temporary) != document.sha256:
            return "refusé", f"SHA-256 différent ({origin})"
        os.replace(temporary, target)
        return "ok", origin
    finally:
        temporary.unlink(missing_ok=True)


def split_documents(split: str, documents: list[Document] | None = None) -> list[Document]:
    return [d for d in (documents if documents is not None else read_documents()) if d.split == split]


def write_split_sources(documents: list[Document], folder: Path) -> Path:
    """A ``sources.toml`` listing ``documents`` with their verified files, as a user declares
    their corpus: the split's index is built from it like the default corpus is. A document of
    the default corpus keeps its own entry of ``corpus/sources.toml`` (its labels)."""
    corpus = {e["id"]: e for e in tomllib.loads((PROJECT_ROOT / "corpus" / "sources.toml").read_text(encoding="utf-8")).get("source", [])}
    lines = ["# Written by evals/documents.py for one split: do not edit.", ""]
    for document in documents:
        entry = dict(corpus.get(document.id) or {"id": document.id, "title": document.title, "kind": "document", "publisher": document.publisher,
                                                  "license": document.licence})
        if document.year and "year" not in entry:
            entry["year"] = document.year
        entry.pop("url", None)
        entry.pop("sha256", None)
        entry["path"] = str(locate(document))
        lines.append("[[source]]")
        lines += [f"{key} = {_toml_value(value)}" for key, value in entry.items()]
        lines.append("")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "sources.toml"
    target.write_text("\n".join(lines), encoding="utf-8")
    return target


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def main(argv: list[str]) -> int:
    """``python -m evals documents [--from DIR] [--mirror-root DIR] [--split NAME]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m evals documents", description="Récupère et vérifie les documents d'évaluation.")
    parser.add_argument("--from", dest="source", default=None, help="dossier contenant les fichiers (nommés comme dans le cache ou par identifiant)")
    parser.add_argument("--mirror-root", default=os.environ.get("NOTE_RAG_GIT_MIRRORS", "/work/.mirror"),
                        help="dossier de miroirs git nus owner+name/ (défaut : NOTE_RAG_GIT_MIRRORS ou /work/.mirror)")
    parser.add_argument("--split", default=None, help="seulement les documents de ce découpage")
    args = parser.parse_args(argv)
    documents = read_documents()
    if args.split:
        documents = [d for d in documents if d.split == args.split]
    source = Path(args.source).expanduser() if args.source else None
    mirror = Path(args.mirror_root).expanduser() if args.mirror_root else None
    failed = 0
    for document in documents:
        status, origin = fetch(document, source, mirror if mirror and mirror.is_dir() else None)
        failed += status != "ok"
        print(f"{status:7} {document.split:9} {document.id:52} {origin}")
    print(f"{len(documents) - failed}/{len(documents)} documents disponibles et vérifiés dans {cache_dir()} (ou dans le dépôt)")
    return 1 if failed else 0
