"""Page previews for PDF citations: the cited page as an image, the supporting passage highlighted.

``page_preview(pdf, page, highlights)`` renders page ``page`` (numbered from 1, as in
``Citation.page``) with pypdfium2, looks for the highlighted sentences in the page's text layer
and paints a translucent rectangle over each line they cover. Matching ignores case, spaces,
line breaks, hyphenation and punctuation (the loaders clean the text they index, the PDF text
layer does not), and falls back to the first and last words of a sentence when the whole
sentence cannot be found. Results are cached on disk (``cache_dir``, e.g. index_dir/previews)
or, when that folder cannot be written, in memory.

pdfium is not thread-safe: every call into it holds one process-wide lock.
"""

from __future__ import annotations

import hashlib
import io
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

_PDFIUM_LOCK = threading.Lock()
_MEMORY: OrderedDict[str, PagePreview] = OrderedDict()
_MEMORY_MAX = 64
_MEMORY_LOCK = threading.Lock()
HIGHLIGHT_RGBA = (255, 214, 0, 110)  # translucent yellow
OUTLINE_RGBA = (230, 140, 0, 200)


@dataclass
class PagePreview:
    """A rendered page: image bytes, their MIME type and whether a highlight was drawn."""

    data: bytes
    mime: str
    page: int
    highlighted: bool
    width: int
    height: int

    def data_uri(self) -> str:
        import base64

        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"


def _folded(text: str) -> tuple[str, list[int]]:
    """Lower-case letters and digits of ``text`` and, for each, its index in ``text``."""
    chars: list[str] = []
    index: list[int] = []
    for i, char in enumerate(text):
        for part in unicodedata.normalize("NFKC", char).lower():
            if part.isalnum():
                chars.append(part)
                index.append(i)
    return "".join(chars), index


def find_span(page_text: str, sentence: str, min_chars: int = 12) -> tuple[int, int] | None:
    """(first, last) character indices of ``sentence`` in ``page_text``, or None.

    Whole sentence first; else from its first words to its last words (when a line of the
    sentence differs, e.g. a figure drawn as an image); else its first words alone.
    """
    haystack, index = _folded(page_text)
    needle, _ = _folded(sentence)
    if len(needle) < min_chars or not haystack:
        return None
    at = haystack.find(needle)
    if at >= 0:
        return index[at], _through_punctuation(page_text, index[at + len(needle) - 1])
    window = 40
    if len(needle) > 2 * window:
        head = haystack.find(needle[:window])
        tail = haystack.find(needle[-window:], head + window) if head >= 0 else -1
        if head >= 0 and tail >= 0 and tail - head < 2 * len(needle):
            return index[head], _through_punctuation(page_text, index[tail + window - 1])
        if head >= 0:
            return index[head], index[head + window - 1]
    return None


def _through_punctuation(text: str, last: int) -> int:
    """Extend a match over the closing punctuation that follows it (``).``, ``» ``...)."""
    while last + 1 < len(text) and text[last + 1] in ".,;:!?…)]»\"'’%":
        last += 1
    return last


def _rects(textpage, first: int, last: int) -> list[tuple[float, float, float, float]]:
    count = textpage.count_rects(first, last - first + 1)
    return [textpage.get_rect(i) for i in range(count)]


def render_page(pdf_path: str | Path, page: int, highlights: Iterable[str] = (), width: int = 900, crop: bool = False):
    """(PIL image, highlighted) for page ``page`` (1-based) of ``pdf_path``.

    ``crop``: only the band of the page around the highlight (the whole page when nothing was
    found), readable at the width of a side panel.
    """
    import pypdfium2 as pdfium
    from PIL import Image, ImageDraw

    with _PDFIUM_LOCK:
        pdf = pdfium.PdfDocument(str(pdf_path))
        try:
            if not 1 <= page <= len(pdf):
                raise ValueError(f"page {page} hors du document ({len(pdf)} pages)")
            pdf_page = pdf[page - 1]
            page_width, page_height = pdf_page.get_size()
            scale = width / page_width
            image = pdf_page.render(scale=scale).to_pil().convert("RGB")
            boxes: list[tuple[float, float, float, float]] = []
            textpage = pdf_page.get_textpage()
            try:
                text = textpage.get_text_range()
                for sentence in highlights:
                    span = find_span(text, sentence)
                    if span is not None:
                        boxes.extend(_rects(textpage, *span))
            finally:
                textpage.close()
                pdf_page.close()
        finally:
            pdf.close()
    if boxes:
        overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(overlay)
        pad = max(1.0, 1.5 * scale)
        for left, bottom, right, top in boxes:
            x0, x1 = left * scale - pad, right * scale + pad
            y0, y1 = (page_height - top) * scale - pad, (page_height - bottom) * scale + pad
            draw.rectangle([x0, y0, x1, y1], fill=HIGHLIGHT_RGBA)
        # A bar in the margin, so the passage is found at a glance on a small thumbnail.
        y_top = min((page_height - top) * scale for _, _, _, top in boxes)
        y_bottom = max((page_height - bottom) * scale for _, bottom, _, _ in boxes)
        x_left = min(left * scale for left, _, _, _ in boxes)
        bar_x = max(2.0, x_left - 10 * scale)
        draw.rectangle([bar_x - 3 * scale, y_top - pad, bar_x, y_bottom + pad], fill=OUTLINE_RGBA)
        image = Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB")
        if crop:
            margin = 0.07 * image.height
            top = max(0, int(y_top - margin))
            bottom = min(image.height, int(y_bottom + margin))
            x_right = max(right * scale for _, _, right, _ in boxes)
            left = max(0, int(min(bar_x - 6 * scale, x_left - 0.05 * image.width)))
            right_edge = min(image.width, int(x_right + 0.05 * image.width))
            image = image.crop((left, top, right_edge, bottom))
    return image, bool(boxes)


def _cache_key(pdf_path: Path, page: int, highlights: Sequence[str], width: int, crop: bool) -> str:
    stat = pdf_path.stat()
    parts = [str(pdf_path.resolve()), str(stat.st_mtime_ns), str(stat.st_size), str(page), str(width), str(crop), *highlights]
    raw = "\x1f".join(parts)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


def page_preview(
    pdf_path: str | Path,
    page: int,
    highlights: Sequence[str] = (),
    cache_dir: str | Path | None = None,
    width: int = 900,
    quality: int = 80,
    crop: bool = False,
) -> PagePreview:
    """The page as a JPEG (cached), with ``highlights`` painted when found on the page.

    ``crop=True``: the band of the page around the highlight only (see ``render_page``).

    Raises ``FileNotFoundError``, ``ValueError`` (page out of range) or pdfium errors: the
    caller decides how to show a missing preview.
    """
    pdf_path = Path(pdf_path)
    highlights = [h for h in highlights if h and h.strip()]
    key = _cache_key(pdf_path, page, highlights, width, crop)
    with _MEMORY_LOCK:  # the UI renders previews for several answers at once
        if key in _MEMORY:
            _MEMORY.move_to_end(key)
            return _MEMORY[key]
    folder = Path(cache_dir) if cache_dir else None
    if folder is not None:
        for highlighted in (True, False):
            cached = folder / f"{key}{'-h' if highlighted else ''}.jpg"
            if cached.is_file():
                return _remember(key, _from_bytes(cached.read_bytes(), page, highlighted))
    image, highlighted = render_page(pdf_path, page, highlights, width, crop)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, optimize=True)
    preview = PagePreview(buffer.getvalue(), "image/jpeg", page, highlighted, image.width, image.height)
    if folder is not None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / f"{key}{'-h' if highlighted else ''}.jpg"
            temporary = target.with_suffix(f".{threading.get_ident()}.tmp")
            temporary.write_bytes(preview.data)
            temporary.replace(target)
        except OSError:
            pass  # read-only index: the memory cache is enough
    return _remember(key, preview)


def _from_bytes(data: bytes, page: int, highlighted: bool) -> PagePreview:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
    return PagePreview(data, "image/jpeg", page, highlighted, width, height)


def _remember(key: str, preview: PagePreview) -> PagePreview:
    with _MEMORY_LOCK:
        _MEMORY[key] = preview
        _MEMORY.move_to_end(key)
        while len(_MEMORY) > _MEMORY_MAX:
            _MEMORY.popitem(last=False)
    return preview
