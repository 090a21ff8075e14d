"""Loaders: one file in, a ``LoadedDocument`` (paragraph blocks with page and section) out.

Each format has one function; ``load_document`` dispatches on the extension. A loader either
returns clean blocks or raises ``LoaderError`` with a one-line French reason that the CLI and
the UI show as is (the readers are French; the message names what to do).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import yaml

from ..kinds import DOCUMENT_KIND, DOCUMENT_TYPE, kind_key
from ..patterns import years_in
from ..models import DocumentInfo, LoadedDocument
from ..structure import tidy
from ..text import collapse, looks_like_heading, normalize
from .html import html_blocks
from .markdown import iter_headings, markdown_blocks

SUPPORTED_EXTENSIONS = (".pdf", ".md", ".markdown", ".rmd", ".qmd", ".txt", ".html", ".htm")


class LoaderError(Exception):
    """A file that cannot be indexed; ``str(error)`` is a one-line French reason."""


@dataclass(frozen=True)
class Deadline:
    """When parsing one document must be over (``NOTE_RAG_PARSE_TIMEOUT``).

    Checked between pages, not by a signal or a thread: a pathological PDF (thousands of
    tiny glyphs per page) stops at the next page boundary, on any platform and in any thread
    (the UI parses uploads in worker threads, where signals cannot be used), and a test can
    trigger it deterministically.
    """

    seconds: float
    ends: float

    @classmethod
    def after(cls, seconds: float | None) -> "Deadline | None":
        return None if seconds is None else cls(seconds, time.monotonic() + seconds)

    def check(self, done: int, total: int) -> None:
        if time.monotonic() > self.ends:
            raise LoaderError(
                f"analyse trop longue (plus de {self.seconds:g} s, arrêtée page {done} sur {total}) : "
                "limite NOTE_RAG_PARSE_TIMEOUT"
            )


# --------------------------------------------------------------------------------------------
# entry point


def load_document(
    path: Path,
    info: DocumentInfo | None = None,
    max_file_mb: float | None = None,
    *,
    max_pages: int | None = None,
    timeout: float | None = None,
    upload: bool = False,
) -> LoadedDocument:
    """Load one file into blocks; ``info`` (from corpus/sources.toml) overrides what the file says.

    ``max_pages`` and ``timeout`` (seconds) bound the work one document may cost (paginated
    formats); ``upload``: a file a reader sent from the UI, which keeps its own title and id
    but none of the kind and names its metadata declares (``DocumentInfo.undeclared``).
    """
    path = Path(path)
    if not path.exists():
        raise LoaderError("fichier introuvable")
    if path.is_dir():
        raise LoaderError("c'est un dossier, pas un fichier")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_EXTENSIONS:
        raise LoaderError(
            f"extension « {path.suffix or '(aucune)'} » non prise en charge (formats acceptés : "
            + ", ".join(SUPPORTED_EXTENSIONS)
            + ")"
        )
    size = path.stat().st_size
    if size == 0:
        raise LoaderError("fichier vide")
    if max_file_mb is not None and size > max_file_mb * 1024 * 1024:
        raise LoaderError(f"fichier trop volumineux ({size / 1024 / 1024:.1f} Mo, limite {max_file_mb:g} Mo)")

    loader: Callable[[Path], LoadedDocument]
    if suffix == ".pdf":
        from .pdf import load_pdf

        deadline = Deadline.after(timeout)

        def loader(pdf: Path) -> LoadedDocument:
            return load_pdf(pdf, max_pages=max_pages, deadline=deadline)
    elif suffix in (".html", ".htm"):
        loader = load_html
    elif suffix == ".txt":
        loader = load_text
    else:
        loader = load_markdown
    document = loader(path)
    document.path = path.resolve()
    if info is not None:
        document.info = _merge_info(document.info, info)
    if upload:
        document.info = document.info.undeclared()
    if not any(block.plain_text().strip() for block in document.blocks):
        raise LoaderError("aucun texte exploitable dans ce fichier")
    return document


def _merge_info(found: DocumentInfo, declared: DocumentInfo) -> DocumentInfo:
    """Declared metadata (manifest) wins; the file fills the gaps."""
    return DocumentInfo(
        doc_id=declared.doc_id or found.doc_id,
        title=declared.title or found.title,
        kind=declared.kind if declared.kind != DOCUMENT_KIND else found.kind,
        year=declared.year if declared.year is not None else found.year,
        source=declared.source or found.source,
        publisher=declared.publisher or found.publisher,
        license=declared.license or found.license,
        doc_type=declared.doc_type if declared.doc_type != DOCUMENT_TYPE else found.doc_type,
        label=declared.label or found.label,
        label_en=declared.label_en or found.label_en,
        label_short=declared.label_short or found.label_short,
    )


def _year_in(*texts: object) -> int | None:
    for text in texts:
        found = years_in(str(text or ""))
        if found:
            return found[0]
    return None


def read_text_file(path: Path) -> tuple[str, list[str]]:
    """Decode UTF-8 (with or without BOM); fall back to cp1252 with a warning, never crash."""
    raw = path.read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16"), []
    if b"\x00" in raw[:4096]:
        raise LoaderError("fichier binaire : ce n'est pas du texte")
    try:
        return raw.decode("utf-8-sig"), []
    except UnicodeDecodeError as error:
        warning = (
            f"texte non UTF-8 (octet invalide en position {error.start}) : décodé en Windows-1252, "
            "vérifiez les accents"
        )
        return raw.decode("cp1252", errors="replace"), [warning]


# --------------------------------------------------------------------------------------------
# Markdown, R Markdown, Quarto, text, HTML


_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)(?:---|\.\.\.)[ \t]*\n", re.DOTALL)
_HTML_TAG = re.compile(r"</?[a-zA-Z][^>]*>")


def _front_matter(text: str) -> tuple[dict, str]:
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError:
        meta = {}
    return (meta if isinstance(meta, dict) else {}), text[match.end():]


def load_markdown(path: Path) -> LoadedDocument:
    text, warnings = read_text_file(path)
    meta, body = _front_matter(normalize(text))
    title = collapse(_HTML_TAG.sub(" ", str(meta.get("title") or "")))
    if not title:
        title = next(iter_headings(body), "") or path.stem
    doc_type = collapse(str(_text_or_none(meta.get("type")) or "")) or DOCUMENT_TYPE
    info = DocumentInfo(
        doc_id=path.stem,
        title=title,
        kind=kind_key(meta.get("kind") or doc_type),
        year=_year_in(meta.get("year"), meta.get("date"), title),
        source=str(_text_or_none(meta.get("source_url")) or path.resolve()),
        publisher=_text_or_none(meta.get("publisher") or meta.get("author")),
        license=_text_or_none(meta.get("license")),
        doc_type=doc_type,
        label=_text_or_none(meta.get("label")),
        label_en=_text_or_none(meta.get("label_en")),
        label_short=_text_or_none(meta.get("label_short")),
    )
    blocks, parse_warnings = markdown_blocks(body, title)
    return LoadedDocument(info=info, blocks=tidy(blocks), warnings=warnings + parse_warnings)


def _text_or_none(value: object) -> str | None:
    """Front matter values as text (a YAML list of authors becomes "A, B")."""
    if value is None or value == "":
        return None
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def load_text(path: Path) -> LoadedDocument:
    text, warnings = read_text_file(path)
    body = normalize(text)
    first_line = next((line for line in body.split("\n") if line.strip()), path.stem)
    title = first_line if looks_like_heading(first_line) else path.stem
    info = DocumentInfo(doc_id=path.stem, title=title, year=_year_in(title), source=str(path.resolve()))
    blocks, parse_warnings = markdown_blocks(_escape_markdown(body), title, detect_plain_headings=True)
    return LoadedDocument(info=info, blocks=tidy(blocks), warnings=warnings + parse_warnings)


def _escape_markdown(text: str) -> str:
    """Plain text must not be read as Markdown headings, code or emphasis."""
    text = re.sub(r"^(\s*)([#>]|`{3}|~{3}|:{3})", r"\1\\\2", text, flags=re.MULTILINE)
    return re.sub(r"(?<=\S)([*_])", r"\\\1", text)


def load_html(path: Path) -> LoadedDocument:
    """Main text of a web page (menus, sidebars and footers left out), structure kept."""
    import trafilatura

    html, warnings = read_text_file(path)
    # The source of a page in a static site (Jekyll, Hugo, Eleventy) opens with a YAML front
    # matter, like a Markdown page: its title is the page's, and it is not HTML.
    fragment = _FRONT_MATTER.match(html) is not None  # the page's own content, no site around it
    front, html = _front_matter(html) if fragment else ({}, html)
    meta = trafilatura.extract_metadata(html)
    # Headings of published pages often carry a permalink symbol ("# Titre", "Titre ¶").
    declared = str(front.get("title") or "") if isinstance(front, dict) else ""
    title = collapse(declared or (meta.title if meta and meta.title else "") or path.stem).strip("#¶§🔗 ") or path.stem
    info = DocumentInfo(
        doc_id=path.stem,
        title=title,
        year=_year_in(meta.date if meta else None, title),
        source=str((meta.url if meta and meta.url else None) or path.resolve()),
        publisher=(meta.sitename if meta else None),
    )
    blocks = html_blocks(normalize(html), title, fragment=fragment)
    if not blocks:
        raise LoaderError("page HTML sans texte principal exploitable")
    return LoadedDocument(info=info, blocks=tidy(blocks), warnings=warnings)
