"""Loaders: one file in, a ``LoadedDocument`` (paragraph blocks with page and section) out.

Each format has one function; ``load_document`` dispatches on the extension. A loader either
returns clean blocks or raises ``LoaderError`` with a one-line French reason that the CLI and
the UI show as is (the readers are French; the message names what to do).
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import yaml

from .models import Block, DocumentInfo, LoadedDocument
from .text import collapse, looks_like_heading, normalize

SUPPORTED_EXTENSIONS = (".pdf", ".md", ".markdown", ".rmd", ".qmd", ".txt", ".html", ".htm")


class LoaderError(Exception):
    """A file that cannot be indexed; ``str(error)`` is a one-line French reason."""


# --------------------------------------------------------------------------------------------
# entry point


def load_document(path: Path, info: DocumentInfo | None = None, max_file_mb: float | None = None) -> LoadedDocument:
    """Load one file into blocks; ``info`` (from corpus/sources.toml) overrides what the file says."""
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
        loader = load_pdf
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
    if not any(block.text.strip() for block in document.blocks):
        raise LoaderError("aucun texte exploitable dans ce fichier")
    return document


def _merge_info(found: DocumentInfo, declared: DocumentInfo) -> DocumentInfo:
    """Declared metadata (manifest) wins; the file fills the gaps."""
    return DocumentInfo(
        doc_id=declared.doc_id or found.doc_id,
        title=declared.title or found.title,
        kind=declared.kind if declared.kind != "document" else found.kind,
        year=declared.year if declared.year is not None else found.year,
        source=declared.source or found.source,
        publisher=declared.publisher or found.publisher,
        license=declared.license or found.license,
    )


def _year_in(*texts: object) -> int | None:
    for text in texts:
        match = re.search(r"\b(19[5-9]\d|20\d\d)\b", str(text or ""))
        if match:
            return int(match.group(1))
    return None


KNOWN_KINDS = ("note", "temoignage", "barometre", "annonce")


def _kind(value: object) -> str:
    value = str(value or "").strip().lower().replace("é", "e")
    return value if value in KNOWN_KINDS else "document"


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
# Markdown, R Markdown, Quarto


_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)(?:---|\.\.\.)[ \t]*\n", re.DOTALL)
_FENCE = re.compile(r"^(```|~~~)")
_DIV_OPEN = re.compile(r"^:{3,}\s*\S")
_DIV_CLOSE = re.compile(r"^:{3,}\s*$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_HEADING_ATTRS = re.compile(r"\s*\{[^}]*\}\s*$")
_URL = r"\((?:[^()\s]|\([^()\s]*\))*\)"  # a link target, with balanced parentheses
_IMAGE = re.compile(r"!\[[^\]]*\]" + _URL + r"(\{[^}]*\})?")
_LINK = re.compile(r"\[([^\]]*)\]" + _URL + r"(\{[^}]*\})?")
_REF_LINK = re.compile(r"\[([^\]]+)\]\[[^\]]*\]")
_AUTOLINK = re.compile(r"<(https?://[^>\s]+)>")
_HTML_BLOCK = re.compile(r"<(script|style)\b.*?</\1>", re.DOTALL | re.IGNORECASE)
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_HTML_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")


def _strip_inline(text: str) -> str:
    """Markdown inline markup to plain text: links keep their text, images go."""
    text = _IMAGE.sub("", text)
    text = _LINK.sub(lambda m: m.group(1), text)
    text = _REF_LINK.sub(lambda m: m.group(1), text)
    text = _AUTOLINK.sub(lambda m: m.group(1), text)
    text = _HTML_TAG.sub(" ", text)
    text = re.sub(r"(\*\*|__)(.+?)\1", r"\2", text, flags=re.DOTALL)
    text = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"\1", text, flags=re.DOTALL)
    text = re.sub(r"(?<![\w_])_(?!\s)(.+?)(?<!\s)_(?![\w_])", r"\1", text, flags=re.DOTALL)
    text = text.replace("**", "").replace("`", "")
    text = re.sub(r"\\([\\`*_{}\[\]()#+\-.!])", r"\1", text)
    return text


def _is_italic_paragraph(paragraph: str) -> bool:
    """A paragraph wholly in *italics*: in these reports, the survey question under a chart."""
    stripped = paragraph.strip()
    return (
        len(stripped) > 2
        and stripped[0] in "*_"
        and stripped[-1] in "*_"
        and not stripped.startswith(("**", "__"))
        and stripped.count(stripped[0]) == 2
    )


def _is_bare_link(paragraph: str) -> bool:
    """A paragraph that is only a link ("Télécharger l'étude"): navigation, not content."""
    without = _LINK.sub("", _IMAGE.sub("", paragraph))
    return bool(_LINK.search(paragraph) or _IMAGE.search(paragraph)) and not re.sub(r"[\s*_.]", "", without)


def _front_matter(text: str) -> tuple[dict, str]:
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError:
        meta = {}
    return (meta if isinstance(meta, dict) else {}), text[match.end():]


def _drop_fences_and_divs(body: str) -> str:
    """Remove code chunks (```{r}, ```{css}, ```{=html}) and Pandoc ::: fenced divs."""
    kept: list[str] = []
    in_fence: str | None = None
    div_depth = 0
    for line in body.split("\n"):
        stripped = line.strip()
        if in_fence:
            if stripped.startswith(in_fence) and stripped.strip("`~") == "":
                in_fence = None
            continue
        fence = _FENCE.match(stripped)
        if fence:
            in_fence = fence.group(1)
            continue
        if _DIV_OPEN.match(stripped):
            div_depth += 1
            continue
        if _DIV_CLOSE.match(stripped) and div_depth:
            div_depth -= 1
            continue
        if div_depth:
            continue
        kept.append(line)
    return "\n".join(kept)


def markdown_blocks(body: str, title: str, detect_plain_headings: bool | None = None) -> list[Block]:
    """Blocks of a Markdown body, each with its heading path.

    Text before the first heading belongs to the document title, so an R Markdown file (title in
    its front matter) and the Markdown made from it (title as a level-1 heading) give the same
    section paths.
    """
    body = _HTML_COMMENT.sub("", _HTML_BLOCK.sub("", _drop_fences_and_divs(body)))
    paragraphs = [p for p in re.split(r"\n[ \t]*\n", body) if p.strip()]
    if detect_plain_headings is None:
        detect_plain_headings = not any(_HEADING.match(p.strip().split("\n")[0]) for p in paragraphs)

    blocks: list[Block] = []
    path: list[tuple[int, str]] = []

    def section() -> str:
        return " > ".join(text for _, text in path) if path else title

    for index, paragraph in enumerate(paragraphs):
        lines = [line for line in paragraph.strip().split("\n") if not _IMAGE.fullmatch(line.strip())]
        if not lines:
            continue
        paragraph = "\n".join(lines)
        heading = _HEADING.match(lines[0])
        if heading:
            level = len(heading.group(1))
            text = collapse(_strip_inline(_HEADING_ATTRS.sub("", heading.group(2))))
            path = [(lvl, t) for lvl, t in path if lvl < level] + [(level, text)]
            rest = "\n".join(lines[1:]).strip()
            if not rest:
                continue
            lines = rest.split("\n")
            paragraph = rest
        if len(lines) >= 2 and re.fullmatch(r"=+|-+", lines[-1].strip()) and len(lines) == 2:
            level = 1 if lines[-1].strip().startswith("=") else 2
            text = collapse(_strip_inline(lines[0]))
            path = [(lvl, t) for lvl, t in path if lvl < level] + [(level, text)]
            continue
        if _is_bare_link(paragraph):
            continue
        if detect_plain_headings and len(lines) == 1 and looks_like_heading(lines[0]):
            following = paragraphs[index + 1] if index + 1 < len(paragraphs) else ""
            if len(collapse(following)) >= 150:
                path = [(1, collapse(_strip_inline(lines[0])))]
                continue
        role = "caption" if _is_italic_paragraph(paragraph) else "text"
        for item in _split_list_items(lines):
            if _TABLE_RULE.match(item):
                continue
            text = collapse(_strip_inline(item.replace("|", " ")))
            if text:
                blocks.append(Block(text=text, section=section(), role=role))
    return _merge_callouts(blocks)


def _split_list_items(lines: list[str]) -> list[str]:
    """A list becomes one block per item; other paragraphs stay whole."""
    items: list[str] = []
    for line in lines:
        if _LIST_ITEM.match(line):
            items.append(_LIST_ITEM.sub("", line, count=1))
        elif items and line.startswith((" ", "\t")):
            items[-1] += " " + line.strip()
        elif items:
            items[-1] += " " + line.strip()
        else:
            items.append(line)
    return ["\n".join(items)] if not any(_LIST_ITEM.match(line) for line in lines) else items


_FIGURE_ONLY = re.compile(r"^[+\-–]?\s?\d[\d\s.,]*\s?(%|pts?|points?|M€|Md€|k€|€)?$")


def _merge_callouts(blocks: list[Block]) -> list[Block]:
    """Rejoin "key figure" call-outs that web pages split into separate lines.

    Press pages print "17%" / "des collectivités" / "ont déjà été victimes …" as three
    paragraphs; a block that is only a figure, or that starts in lower case after a block with no
    final punctuation, continues the previous one. Otherwise the figure would be cut from what
    it counts and no sentence would say "17 % des collectivités …".
    """
    merged: list[Block] = []
    for block in blocks:
        previous = merged[-1] if merged else None
        continues = (
            previous is not None
            and previous.section == block.section
            and previous.role == block.role == "text"
            and (
                _FIGURE_ONLY.match(previous.text)
                or (block.text[:1].islower() and not previous.text.endswith((".", "!", "?", ":", "…")))
            )
        )
        if continues and previous is not None:
            previous.text = f"{previous.text} {block.text}"
        else:
            merged.append(block)
    for block in merged:
        if _FIGURE_ONLY.match(block.text.split(" ")[0]) and not block.text.endswith((".", "!", "?", "…")):
            block.text += "."
    return merged


def load_markdown(path: Path) -> LoadedDocument:
    text, warnings = read_text_file(path)
    meta, body = _front_matter(normalize(text))
    title = collapse(_HTML_TAG.sub(" ", str(meta.get("title") or "")))
    if not title:
        first = next((m for m in (_HEADING.match(line) for line in body.split("\n")) if m), None)
        title = collapse(_strip_inline(_HEADING_ATTRS.sub("", first.group(2)))) if first else path.stem
    info = DocumentInfo(
        doc_id=path.stem,
        title=title,
        kind=_kind(meta.get("kind")),
        year=_year_in(meta.get("year"), meta.get("date"), title),
        source=str(_text_or_none(meta.get("source_url")) or path.resolve()),
        publisher=_text_or_none(meta.get("publisher") or meta.get("author")),
        license=_text_or_none(meta.get("license")),
    )
    return LoadedDocument(info=info, blocks=markdown_blocks(body, title), warnings=warnings)


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
    blocks = markdown_blocks(_escape_markdown(body), title, detect_plain_headings=True)
    return LoadedDocument(info=info, blocks=blocks, warnings=warnings)


def _escape_markdown(text: str) -> str:
    """Plain text must not be read as Markdown headings or emphasis."""
    return re.sub(r"^(#)", r"\\\1", text, flags=re.MULTILINE)


def load_html(path: Path) -> LoadedDocument:
    """Main text of a web page (menus, footers and ads dropped by trafilatura)."""
    import trafilatura

    html, warnings = read_text_file(path)
    extracted = trafilatura.extract(
        html, output_format="markdown", include_comments=False, include_tables=True, favor_recall=True
    )
    if not extracted:
        raise LoaderError("page HTML sans texte principal exploitable")
    meta = trafilatura.extract_metadata(html)
    title = collapse((meta.title if meta and meta.title else "") or path.stem)
    info = DocumentInfo(
        doc_id=path.stem,
        title=title,
        year=_year_in(meta.date if meta else None, title),
        source=str((meta.url if meta and meta.url else None) or path.resolve()),
        publisher=(meta.sitename if meta else None),
    )
    return LoadedDocument(info=info, blocks=markdown_blocks(normalize(extracted), title), warnings=warnings)


# --------------------------------------------------------------------------------------------
# PDF


@dataclass
class _Line:
    text: str
    size: float
    y: float
    bold: bool
    italic: bool


def _pdf_lines(page) -> list[_Line]:
    """Text lines of a page with font size, position and style, in reading order."""
    fragments: list[tuple[str, float, float, str]] = []

    def visitor(text, cm, tm, font, size):  # noqa: ANN001 - pypdf callback signature
        if not text:
            return
        scale = abs(tm[3] * cm[3]) or 1.0
        y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
        name = str(font.get("/BaseFont", "")) if font else ""
        fragments.append((text, float(size) * scale, float(y), name))

    page.extract_text(visitor_text=visitor)
    lines: list[_Line] = []
    current: list[tuple[str, float, float, str]] = []

    def flush() -> None:
        text = "".join(f[0] for f in current).replace("\n", " ")
        if text.strip():
            weights = Counter()
            for frag in current:
                weights[round(frag[1], 1)] += len(frag[0].strip())
            styled = [f for f in current if f[0].strip()]
            lines.append(
                _Line(
                    text=text.strip(),
                    size=weights.most_common(1)[0][0],
                    y=current[0][2],
                    bold=all(re.search(r"bold|black|heavy", f[3], re.I) for f in styled),
                    italic=all(re.search(r"italic|oblique", f[3], re.I) for f in styled),
                )
            )
        current.clear()

    for fragment in fragments:
        if current and abs(fragment[2] - current[-1][2]) > 1.0:
            flush()
        current.append(fragment)
        if fragment[0].endswith("\n"):
            flush()
    flush()
    return lines


def _repeated_margins(pages: list[list[_Line]], body_size: float) -> set[str]:
    """Running headers and footers: first/last lines repeated (digits aside) on most pages.

    Only lines no larger than body text qualify, so "Chapitre 2" headings survive.
    """
    if len(pages) < 3:
        return set()
    counts: Counter[str] = Counter()
    for lines in pages:
        edge = {re.sub(r"\d+", "#", line.text) for line in lines[:2] + lines[-2:] if line.size <= body_size * 1.05}
        counts.update(edge)
    return {text for text, count in counts.items() if count >= max(3, 0.5 * len(pages))}


def load_pdf(path: Path) -> LoadedDocument:
    import logging

    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings duplicate our one-line errors
    try:
        reader = PdfReader(str(path), strict=False)
        if reader.is_encrypted:
            try:
                if not reader.decrypt(""):
                    raise LoaderError("PDF chiffré (protégé par mot de passe) : retirez la protection puis réessayez")
            except (FileNotDecryptedError, DependencyError, NotImplementedError) as error:
                raise LoaderError("PDF chiffré (protégé par mot de passe) : retirez la protection puis réessayez") from error
        page_count = len(reader.pages)
        pages = [_pdf_lines(page) for page in reader.pages]
        metadata = reader.metadata or {}
    except LoaderError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError, IndexError, RecursionError) as error:
        reason = collapse(str(error))[:120] or type(error).__name__
        raise LoaderError(f"PDF illisible (corrompu ou tronqué) : {reason}") from error
    except Exception as error:  # pypdf raises many kinds of errors on broken files
        raise LoaderError(f"PDF illisible (corrompu ou tronqué) : {type(error).__name__}") from error

    if page_count == 0:
        raise LoaderError("PDF illisible (corrompu ou tronqué) : aucune page")
    if sum(len(line.text) for lines in pages for line in lines) < 20:
        raise LoaderError("PDF sans couche texte (document scanné ?) : l'OCR n'est pas pris en charge")

    sizes: Counter[float] = Counter()
    for lines in pages:
        for line in lines:
            sizes[line.size] += len(line.text)
    body_size = sizes.most_common(1)[0][0]
    margins = _repeated_margins(pages, body_size)
    bold_sizes = {line.size for lines in pages for line in lines if line.bold}
    heading_sizes = sorted(
        {s for s in sizes if s >= body_size * 1.15 or (s > body_size * 1.04 and s in bold_sizes)}, reverse=True
    )
    # A largest size used only on the first page is the document title: it ranks with the
    # top-level headings, so the first real heading replaces it (as "# Title" does in Markdown).
    if len(heading_sizes) > 1 and all(
        line.size != heading_sizes[0] for lines in pages[1:] for line in lines
    ):
        title_size: float | None = heading_sizes.pop(0)
    else:
        title_size = None

    title = collapse(str(metadata.get("/Title") or "")) if metadata else ""
    blocks: list[Block] = []
    path_stack: list[tuple[int, str]] = []
    first_heading = ""
    for page_number, lines in enumerate(pages, start=1):
        lines = [line for line in lines if re.sub(r"\d+", "#", line.text) not in margins]
        if lines and re.fullmatch(r"[-–\s]*\d+[-–\s]*", lines[-1].text):
            lines = lines[:-1]  # a bare page number
        gaps = [a.y - b.y for a, b in zip(lines, lines[1:]) if 0 < a.y - b.y < 3 * body_size]
        spacing = statistics.median(gaps) if gaps else body_size * 1.4
        paragraph: list[_Line] = []

        def flush_paragraph() -> None:
            if not paragraph:
                return
            text = "\n".join(line.text for line in paragraph)
            text = collapse(normalize(text))
            if text:
                section = " > ".join(t for _, t in path_stack) or title
                role = "caption" if all(line.italic for line in paragraph) else "text"
                blocks.append(Block(text=text, page=page_number, section=section, role=role))
            paragraph.clear()

        heading_lines: list[_Line] = []
        previous: _Line | None = None
        for line in lines:
            is_heading = (line.size in heading_sizes or line.size == title_size) and len(line.text) < 200
            if is_heading:
                flush_paragraph()
                if heading_lines and heading_lines[-1].size != line.size:
                    _push_heading(path_stack, heading_lines, heading_sizes, title_size)
                    heading_lines = []
                heading_lines.append(line)
            else:
                if heading_lines:
                    first_heading = first_heading or collapse(" ".join(h.text for h in heading_lines))
                    _push_heading(path_stack, heading_lines, heading_sizes, title_size)
                    heading_lines = []
                new_paragraph = (
                    previous is not None
                    and (previous.y - line.y > spacing * 1.3 or previous.italic != line.italic)
                ) or line.text.startswith(("•", "▪", "◦", "– ", "- "))
                if new_paragraph:
                    flush_paragraph()
                paragraph.append(line)
            previous = line
        if heading_lines:
            _push_heading(path_stack, heading_lines, heading_sizes, title_size)
        flush_paragraph()

    title = title or first_heading or path.stem
    info = DocumentInfo(
        doc_id=path.stem,
        title=title,
        year=_year_in(title, metadata.get("/Subject") if metadata else None),
        source=str(path.resolve()),
        publisher=collapse(str(metadata.get("/Author"))) if metadata and metadata.get("/Author") else None,
    )
    blocks = _normalise_bullets(blocks)
    return LoadedDocument(info=info, blocks=blocks, pages=page_count)


def _push_heading(
    path_stack: list[tuple[int, str]], lines: list[_Line], heading_sizes: list[float], title_size: float | None
) -> None:
    level = 1 if lines[0].size == title_size else heading_sizes.index(lines[0].size) + 1
    text = collapse(normalize("\n".join(line.text for line in lines)))
    path_stack[:] = [(lvl, t) for lvl, t in path_stack if lvl < level] + [(level, text)]


def _normalise_bullets(blocks: list[Block]) -> list[Block]:
    return [replace(b, text=re.sub(r"^[•▪◦]\s*", "", b.text)) for b in blocks]
