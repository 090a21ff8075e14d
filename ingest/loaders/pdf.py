"""PDF -> structural blocks, from PDFium's characters (positions, sizes, weights, styles).

Typeset PDFs (pandoc + LaTeX, InDesign) place words by position and often contain no space
characters: text extraction that reads the content stream glues words together. PDFium's text
page inserts the spaces and line breaks a reader sees, and gives each character its box, font
size, weight and style. Every rule below is typographic, measured in ems of the text it reads,
so that it holds whatever tool made the PDF (LaTeX, InDesign, Word, LibreOffice). From those:

1. **Lines and segments**: a glyph's size is its font size scaled by the text matrix (layout
   tools set fonts at 1 pt); word spaces are gaps beyond the run's own letter gap (kerning,
   tracking) or space characters not drawn over; glyphs of dingbat fonts are bullets.
   Characters are grouped into lines, a line is cut where a horizontal gap is wider than ~1 em
   (table cells, two columns, a header's left and right parts).
2. **Page furniture out**: running headers and footers (the same text, digits aside, in the top
   or bottom band of most pages), bare page numbers, tables of contents (dot leaders, or page
   numbers set apart that grow down each column).
3. **Reading order**: a recursive XY-cut; a page whose lines leave a vertical gutter is read
   column by column (near its middle, or between narrow columns of wrapped prose), full-width
   bands (titles, footers) in place.
4. **Headings**: the PDF outline (bookmarks) when it has one: its titles, with their spaces, are
   the section path, matched to the lines they title (run-in headings are split from the text
   that follows); entries that are paragraphs (list items, sentences) title nothing, and an
   outline made of them is no outline. Without an outline, blocks set larger than the body
   text (or bold and slightly larger) that read as titles are heading levels, largest first.
5. **Blocks**: paragraphs (line-end hyphens rejoined whatever the hyphen character, unless the
   compound is written with its hyphen elsewhere in the document; a paragraph left open at
   the foot of a page goes on at the top of the next), lists (bullets or numbers,
   continuation lines folded in), tables (aligned columns; a row is read with its headers),
   figure call-outs (a big « 59 % » and its caption become one sentence), captions (an italic
   paragraph right under a picture or a chart), pull quotes with their attribution line.

pypdf stays where it is the right tool: encryption, metadata and the outline.
"""

from __future__ import annotations

import ctypes
import logging
import math
import re
import statistics
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..models import SECTION_SEPARATOR, Block, DocumentInfo, LoadedDocument
from ..structure import FIGURE_ONLY, tidy
from ..text import collapse, normalize

if TYPE_CHECKING:
    from . import Deadline

HYPHENS = "-\u00ad\u2010\u2011"
# List markers: bullets, squares, arrows, check marks and stars (Unicode's arrows, geometric
# shapes and dingbats, which no word starts with), dashes, numbers and letters.
BULLET = re.compile(
    r"^([•▪◦●■□▸►‣⁃∙·*\ufffc\u2190-\u21ff\u25a0-\u25ff\u2713\u2714\u2756\u2794-\u27bf\u2b95]|[–—-](?=\s)"
    r"|\(?\d{1,2}[.)](?=\s)|\(?[a-z][.)](?=\s))\s*"
)
# A pictogram: a glyph of a dingbat or icon font (whatever letter its encoding maps it to: a
# Wingdings arrow comes out as « Æ », a Zapf Dingbats disc as « l »), or a Private Use Area
# character (Word's Symbol bullet is U+F0B7). It says nothing a reader reads: first on its
# line it is a list bullet, elsewhere it is left out.
PICTOGRAM = "\ufffc"
_PICTOGRAM_FONT = re.compile(r"dingbat|wingding|webding|zapf|marlett|awesome|icon|emoji", re.IGNORECASE)
_LEADER = re.compile(r"(?:\.\s?){5,}|(?:…\s?){3,}|(?:_\s?){5,}")  # dot leaders of a table of contents
_NUMBERING = re.compile(r"^\s*(?:(?:\d+|[IVXLC]+|[A-Z])(?:\.\d+)*\.?)\s+")
_PAGE_NUMBER = re.compile(r"^\s*(?:page\s+)?[-–—]?\s*\d{1,4}\s*(?:/\s*\d{1,4})?\s*[-–—]?\s*$", re.IGNORECASE)
_SENTENCE_END = (".", "!", "?", "…", ":", "»", '"', ";")
# "Figure 3 – …", "Graphique 2 :", "Tableau 1.", "Source : …": how French and English documents
# label what they print under a picture (a caption even when it is not set in italics).
FIGURE_LABEL = re.compile(r"^(fig(?:ure)?\.?|graphique|tableau|table|illustration|carte|image|source)s?\s*(\d+|:)", re.IGNORECASE)
_BOLD_NAME = re.compile(r"bold|black|heavy|semibold|demibold|extrabold", re.IGNORECASE)
_ITALIC_NAME = re.compile(r"italic|oblique|slanted", re.IGNORECASE)

MARGIN_BAND = 0.12  # top and bottom share of the page where running headers and footers live
GAP_EM = 1.0  # a horizontal gap wider than this many ems separates two segments of a line


@dataclass
class Segment:
    """A run of text on one line of one page, with the typography that classifies it."""

    text: str
    x0: float
    x1: float
    top: float  # PDF coordinates: y grows upwards
    bottom: float
    size: float
    bold: bool
    italic: bool
    page: int
    chars: int = 0
    heading: int | None = None  # heading level (1 = top) once classified
    glyphs: list = field(default_factory=list, repr=False, compare=False)  # its _Char tuples, spaces included

    @property
    def height(self) -> float:
        return self.top - self.bottom


@dataclass
class _Page:
    number: int
    width: float
    height: float
    segments: list[Segment]
    figures: list[tuple[float, float, float, float]] = field(default_factory=list)  # (x0, bottom, x1, top)


# --------------------------------------------------------------------------------------------
# characters -> segments


_Char = tuple  # (char, left, bottom, right, top, size, bold, italic); " " marks a word space


def _segment(chars: list[_Char], number: int) -> Segment | None:
    glyphs = [c for c in chars if c[0] != " "]
    if not glyphs:
        return None
    sizes = Counter(round(c[5], 1) for c in glyphs)
    text = "".join(c[0] for c in chars).strip()
    if PICTOGRAM in text:
        rest = " ".join(text.replace(PICTOGRAM, " ").split())
        text = (f"• {rest}" if rest else "•") if text.startswith(PICTOGRAM) else rest
        if not text:
            return None
    return Segment(
        text=text,
        x0=min(c[1] for c in glyphs),
        x1=max(c[3] for c in glyphs),
        top=max(c[4] for c in glyphs),
        bottom=min(c[2] for c in glyphs),
        size=sizes.most_common(1)[0][0],
        bold=sum(c[6] for c in glyphs) > len(glyphs) / 2,
        italic=sum(c[7] for c in glyphs) > len(glyphs) / 2,
        page=number,
        chars=len(glyphs),
        glyphs=list(chars),
    )


def _cut_at(segment: Segment, starts: list[float]) -> list[Segment]:
    """The segment cut before each of its words that starts at one of ``starts`` (±2 pt)."""
    pieces: list[list[_Char]] = [[]]
    for previous, char in zip([None, *segment.glyphs], segment.glyphs):
        if previous is not None and previous[0] == " " and char[0] != " " and any(abs(char[1] - x) <= 2 for x in starts):
            pieces[-1].pop()  # the word space before the cut
            pieces.append([])
        pieces[-1].append(char)
    if len(pieces) == 1:
        return [segment]
    cut = [piece for chars in pieces if (piece := _segment(chars, segment.page)) is not None]
    for piece in cut:
        piece.heading = segment.heading
    return cut


def _split_line(chars: list[_Char], number: int) -> list[Segment]:
    """Cut a line where a gap stands out: table cells, columns, a header's two ends.

    Justified text stretches every word space of a line alike, sometimes beyond an em; a gap
    separates two segments only when it is wider than an em and than 2.5 times the line's
    ordinary word space (or 2 ems on a line of two words), or when the font size jumps (a big
    figure and its caption).
    """
    words: list[list[_Char]] = [[]]
    for c in chars:
        if c[0] == " ":
            if words[-1]:
                words.append([])
        else:
            words[-1].append(c)
    words = [w for w in words if w]
    if not words:
        return []
    gaps = [b[0][1] - a[-1][3] for a, b in zip(words, words[1:])]
    small = [g for g in gaps if g <= words[0][0][5]]
    ordinary = statistics.median(small if len(small) * 3 >= len(gaps) else gaps) if len(gaps) >= 2 else 0.0
    pieces: list[list[_Char]] = [list(words[0])]
    for word, gap, previous in zip(words[1:], gaps, words):
        size = max(word[0][5], previous[-1][5])
        lone_bullet = len(pieces[-1]) == 1 and BULLET.match(pieces[-1][0][0] + " ")
        jump = max(word[0][5], previous[-1][5]) > 1.5 * min(word[0][5], previous[-1][5])
        wide = gap > GAP_EM * size and (gap > 2.5 * ordinary if len(gaps) >= 2 else gap > 2 * size)
        if (wide and not lone_bullet) or jump:
            pieces.append(list(word))
        else:
            pieces[-1].append((" ", previous[-1][3], previous[-1][2], word[0][1], previous[-1][4], size, False, False))
            pieces[-1].extend(word)
    return [seg for piece in pieces if (seg := _segment(piece, number)) is not None]


def _glyph_size(raw, textpage, index: int, matrix) -> float:
    """The size a reader sees: the font size (Tf) scaled by the text matrix.

    InDesign and other layout tools set Tf 1 and scale the matrix, so the nominal size alone is
    1 pt for every glyph and every rule below that counts in ems would count in points. The
    height of the matrix's unit square across the baseline (|det| / horizontal scale) is the
    scale, whatever the rotation, the horizontal scaling (Tz) or a slant (synthetic italics).
    """
    raw.FPDFText_GetMatrix(textpage, index, ctypes.byref(matrix))
    width = math.hypot(matrix.a, matrix.b)
    scale = abs(matrix.a * matrix.d - matrix.b * matrix.c) / width if width else 0.0
    return raw.FPDFText_GetFontSize(textpage, index) * (scale or 1.0)


def _word_spaces(glyphs: list[_Char], evidence: list[tuple], space_em: dict[bytes, float]) -> list[_Char]:
    """The line's glyphs with a " " wherever a reader sees a word space.

    ``evidence[i]`` tells what the PDF wrote before ``glyphs[i]``: (None | "char" |
    "generated", the space's left and right, the glyph's font). Gaps are measured in ems,
    from the typical gap between the letters of the same run (its tracking):

    - letter-spaced or kerned text opens every gap of a run alike, so only a gap clearly wider
      than the run's own letter gap is a word space (« C E T T E » stays « CETTE »);
    - a gap counts as a word space from half the font's space glyph (its width is known from
      the spaces the document does write in that font), or 0.1 em when the font never writes
      one: typeset PDFs (LaTeX) position words and write no space at all;
    - a space character the next glyph is drawn back over (it starts within the space's first
      sixth, as close to the previous glyph as letters are) was taken back by glyph-by-glyph
      positioning (« l eur », « dispos itif » in justified LibreOffice text): no space;
    - a space PDFium generated from the positions stands unless the glyphs touch as letters do.
    """
    if not glyphs:
        return []
    gaps = [(b[1] - a[3]) / max(a[5], b[5], 1e-6) for a, b in zip(glyphs, glyphs[1:])]
    runs: dict[tuple, list[float]] = {}
    for a, b, gap, (kind, *_rest) in zip(glyphs, glyphs[1:], gaps, evidence[1:]):
        if kind is None and a[5:8] == b[5:8] and -0.5 < gap < 1.0:
            runs.setdefault(b[5:8], []).append(gap)
    every = [g for gaps_of_run in runs.values() for g in gaps_of_run]
    line_tracking = statistics.median(every) if len(every) >= 3 else 0.0
    tracking = {key: statistics.median(g) if len(g) >= 3 else line_tracking for key, g in runs.items()}
    out = [glyphs[0]]
    for a, b, gap, (kind, space_left, space_right, font) in zip(glyphs, glyphs[1:], gaps, evidence[1:]):
        beyond = gap - max(0.0, tracking.get(b[5:8], line_tracking))
        if kind == "char":
            width = space_right - space_left
            spaced = not (beyond < 0.05 and b[1] < space_left + width / 6)
        elif kind == "generated":
            spaced = beyond >= 0.05
        else:
            spaced = a[0] not in HYPHENS and beyond > (0.5 * space_em[font] if font in space_em else 0.1)
        if spaced:
            out.append((" ", a[3], b[2], b[1], b[4], b[5], False, False))
        out.append(b)
    return out


def _page_segments(page, number: int) -> list[Segment]:
    """The page's text as segments, from PDFium's characters (spaces restored from positions)."""
    import pypdfium2.raw as raw

    textpage = page.get_textpage()
    count = textpage.count_chars()
    segments: list[Segment] = []
    buffer = ctypes.create_string_buffer(256)
    flags = ctypes.c_int()
    loose = raw.FS_RECTF()
    matrix = raw.FS_MATRIX()
    line: list[_Char] = []
    evidence: list[tuple] = []  # per glyph of ``line``: what the PDF wrote before it (``_word_spaces``)
    styles: dict[tuple[bytes, int, int], tuple[bool, bool, bool]] = {}  # bold, italic, pictograms
    widths: dict[bytes, list[float]] = {}  # the font's space glyphs, in ems
    pending: tuple = (None, 0.0, 0.0)

    def end_line() -> None:
        space_em = {font: min(0.5, max(0.15, statistics.median(w))) for font, w in widths.items()}
        segments.extend(_split_line(_word_spaces(line, evidence, space_em), number))
        line.clear()
        evidence.clear()

    low_half = False  # the previous character was the first half of a surrogate pair
    call: tuple[float, float] | None = None  # (size, bottom) of the note call being skipped
    for index in range(count):
        code = raw.FPDFText_GetUnicode(textpage, index)
        if low_half:
            low_half = False
            continue
        # PDFium counts in UTF-16 units: a character beyond the BMP (an emoji « 😉 ») comes as two
        # surrogates; joined it is that character, alone a surrogate would not even encode in UTF-8.
        if 0xD800 <= code < 0xDC00 and index + 1 < count and 0xDC00 <= (low := raw.FPDFText_GetUnicode(textpage, index + 1)) < 0xE000:
            code, low_half = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00), True
        elif 0xD800 <= code < 0xE000:
            code = 0
        char = "-" if code == 2 else (chr(code) if code else "")  # PDFium writes 0x02 for a line-end hyphen
        if char in ("\r", "\n"):
            if call is not None and raw.FPDFText_IsGenerated(textpage, index) == 1:
                continue  # PDFium's line break after a raised note call: the line goes on (the next glyph's position decides)
            end_line()
            pending = (None, 0.0, 0.0)
            continue
        if not char or (unicodedata.category(char) in ("Cc", "Cf") and char != "\u00ad"):
            continue
        raw.FPDFText_GetLooseCharBox(textpage, index, ctypes.byref(loose))
        if char.isspace():
            generated = raw.FPDFText_IsGenerated(textpage, index) == 1
            if line and not (generated and call is not None):  # PDFium's space after a skipped call is not the author's
                pending = ("generated" if generated else "char", loose.left, loose.right)
                if not generated and loose.right > loose.left:
                    raw.FPDFText_GetFontInfo(textpage, index, buffer, len(buffer), ctypes.byref(flags))
                    size = _glyph_size(raw, textpage, index, matrix)
                    if size > 0 and abs(matrix.c) < 1e-3:  # a slanted space's box is wider than its advance
                        widths.setdefault(buffer.value, []).append((loose.right - loose.left) / size)
            continue
        # The loose box spans the glyph's advance and the font's height: inside a word
        # consecutive boxes touch, so a gap between them is a word space even where the PDF
        # wrote no space character, and a bullet or a dash has the height of its line.
        left, right, bottom, top = loose.left, loose.right, loose.bottom, loose.top
        size = _glyph_size(raw, textpage, index, matrix) or (top - bottom) or 10.0
        weight = raw.FPDFText_GetFontWeight(textpage, index)
        raw.FPDFText_GetFontInfo(textpage, index, buffer, len(buffer), ctypes.byref(flags))
        key = (buffer.value, flags.value, weight)
        style = styles.get(key)
        if style is None:
            name = buffer.value.decode("latin-1", "replace")
            style = styles[key] = (
                weight >= 600 or bool(_BOLD_NAME.search(name)),
                bool(flags.value & 64) or bool(_ITALIC_NAME.search(name)),
                bool(_PICTOGRAM_FONT.search(name)),
            )
        if style[2] or 0xE000 <= ord(char) <= 0xF8FF:
            char = PICTOGRAM
        if line:
            previous = line[-1]
            if char.isdigit() and (_calls_note(previous, size, bottom) or (call is not None and (size, bottom) == call)):
                # A note call set in superscript right after a word (« centers.¹² »): a
                # reference to a footnote, not part of the sentence, and read as text it would
                # glue to the word or to the next figure (« presently.12 Furthermore »).
                call = (size, bottom)
                line[-1] = (*previous[:3], right, *previous[4:])  # what follows the call touches the word
                continue
            gap = left - previous[3]
            tall = max(size, previous[5])
            if (abs(bottom - previous[2]) > 0.8 * tall and abs(top - previous[4]) > 0.8 * tall) or gap < -3 * size:
                end_line()  # a new line the text page did not mark
                pending = (None, 0.0, 0.0)
        call = None
        line.append((char, left, bottom, right, top, size, style[0], style[1]))
        evidence.append((*pending, buffer.value))
        pending = (None, 0.0, 0.0)
    end_line()
    return segments


def _calls_note(previous: _Char, size: float, bottom: float) -> bool:
    """A digit set in superscript right after a letter or a punctuation mark: smaller than it
    (at most 80 %) and raised above its baseline (by a fifth of its size) — how word processors
    and LaTeX set a footnote call. A figure's digits sit on the line at the text's size."""
    char, _, previous_bottom, _, _, previous_size = previous[:6]
    return (
        (char.isalpha() or char in ".,;:)»”\"'’%")
        and size <= 0.8 * previous_size
        and bottom >= previous_bottom + 0.2 * previous_size
    )


def _figure_regions(page) -> list[tuple[float, float, float, float]]:
    """Pictures and charts of a page: image and form objects, and clusters of vector paths."""
    import pypdfium2.raw as raw

    width, height = page.get_width(), page.get_height()
    regions: list[list[float]] = []
    paths: list[list[float]] = []
    try:
        objects = list(page.get_objects())
    except Exception:  # noqa: BLE001 - a broken content stream only costs caption detection
        return []
    for obj in objects:
        try:
            x0, y0, x1, y1 = obj.get_bounds()
        except Exception:  # noqa: BLE001
            continue
        area = (x1 - x0) * (y1 - y0)
        if area <= 0 or area > 0.8 * width * height:
            continue
        if obj.type in (raw.FPDF_PAGEOBJ_IMAGE, raw.FPDF_PAGEOBJ_SHADING, raw.FPDF_PAGEOBJ_FORM) and area > 0.01 * width * height:
            regions.append([x0, y0, x1, y1])
        elif obj.type == raw.FPDF_PAGEOBJ_PATH and (x1 - x0) > 1.5 and (y1 - y0) > 1.5:
            paths.append([x0, y0, x1, y1])
    # A chart is many paths close together; a single rectangle is a box behind text.
    clusters: list[tuple[list[float], int]] = []
    for box in paths:
        for i, (cluster, n) in enumerate(clusters):
            if box[0] <= cluster[2] + 10 and box[2] >= cluster[0] - 10 and box[1] <= cluster[3] + 10 and box[3] >= cluster[1] - 10:
                clusters[i] = ([min(cluster[0], box[0]), min(cluster[1], box[1]), max(cluster[2], box[2]), max(cluster[3], box[3])], n + 1)
                break
        else:
            clusters.append((list(box), 1))
    regions += [cluster for cluster, n in clusters if n >= 6]
    return [tuple(r) for r in regions]  # type: ignore[misc]


# --------------------------------------------------------------------------------------------
# page furniture


def _shape(text: str) -> str:
    return re.sub(r"\d+", "#", collapse(text).lower())


def _in_margin(segment: Segment, page: _Page) -> bool:
    return segment.top > page.height * (1 - MARGIN_BAND) or segment.bottom < page.height * MARGIN_BAND


def _small_or_letterless(segment: Segment, body_size: float) -> bool:
    """Text that may be furniture: no larger than the body, or a date-like line (digits with
    separators, no letter); a bare number in a table near the margin is not a page number."""
    text = segment.text.strip()
    return segment.size <= 1.05 * body_size or (not any(c.isalpha() for c in text) and not text.isdigit())


def _drop_furniture(pages: list[_Page]) -> None:
    """Remove running headers/footers, page numbers and table-of-contents lines.

    Only text no larger than the body text can be furniture: a chapter title repeated at the
    top of every page of a chapter stays a heading. A margin line of digits and separators
    without a letter (a date) is never a title, whatever its size: repeated, it is furniture too.
    """
    sizes: Counter[float] = Counter()
    for page in pages:
        for s in page.segments:
            sizes[s.size] += s.chars
    body_size = sizes.most_common(1)[0][0] if sizes else 10.0
    counts: Counter[str] = Counter()
    for page in pages:
        counts.update({_shape(s.text) for s in page.segments if _in_margin(s, page) and _small_or_letterless(s, body_size)})
    needed = max(3, 0.4 * len(pages))
    running = {shape for shape, n in counts.items() if n >= needed} if len(pages) >= 3 else set()
    for page in pages:
        kept = []
        for segment in page.segments:
            if _in_margin(segment, page) and (
                (_small_or_letterless(segment, body_size) and _shape(segment.text) in running)
                or (segment.size <= 1.05 * body_size and _PAGE_NUMBER.match(segment.text))
            ):
                continue
            kept.append(segment)
        leaders = sum(bool(_LEADER.search(s.text)) for s in kept)
        if kept and (leaders >= max(5, 0.15 * len(kept)) or _contents_without_leaders(kept, len(pages))):
            kept = []  # a table-of-contents page: every line of it points elsewhere
        elif leaders >= 2:
            # The end of a table of contents: its entries end with a page number set apart.
            baselines = {round(s.bottom) for s in kept if _LEADER.search(s.text) or _PAGE_NUMBER.match(s.text)}
            kept = [s for s in kept if round(s.bottom) not in baselines]
        page.segments = [s for s in kept if not _LEADER.search(s.text)]


def _contents_without_leaders(segments: list[Segment], page_count: int) -> bool:
    """A table of contents set without dot leaders: its titles end with a page number set apart.

    Designed documents align each entry's page number at the right of its title, in one or
    several columns: many lines end with a bare number no greater than the document's page
    count, and down each column of numbers they grow. A table of figures has numbers beside
    labels too, but rarely only page numbers that grow down every column.
    """
    entries = []
    for segment in segments:
        if re.fullmatch(r"\d{1,3}", segment.text) and 1 <= int(segment.text) <= page_count:
            titled = any(
                other.x1 < segment.x0 and abs(other.bottom - segment.bottom) < 0.3 * segment.size and re.search(r"[^\W\d_]{2}", other.text)
                for other in segments
            )
            if titled:
                entries.append(segment)
    baselines = {round(s.bottom) for s in segments}
    if len(entries) < 5 or len(entries) < 0.25 * len(baselines):
        return False
    columns: dict[int, list[Segment]] = {}
    for entry in entries:
        columns.setdefault(round(entry.x1 / 6), []).append(entry)
    steps = growing = 0
    for column in columns.values():
        numbers = [int(s.text) for s in sorted(column, key=lambda s: -s.top)]
        steps += len(numbers) - 1
        growing += sum(b >= a for a, b in zip(numbers, numbers[1:]))
    return steps >= 4 and growing >= 0.8 * steps


# --------------------------------------------------------------------------------------------
# reading order


def _xy_cut(segments: list[Segment], width: float) -> list[Segment]:
    """Reading order by recursive XY-cut: split at the widest empty strip, rows top to bottom,
    columns left to right; a vertical strip only splits running text, never a table's rows."""
    if len(segments) <= 1:
        return list(segments)
    horizontal = _widest_horizontal_gap(segments)
    vertical = _vertical_gutter(segments, width)
    if vertical is not None and (horizontal is None or vertical[0] >= horizontal[0]):
        _, x = vertical
        left = [s for s in segments if s.x1 <= x]
        right = [s for s in segments if s.x1 > x]
        return _xy_cut(left, width) + _xy_cut(right, width)
    if horizontal is not None:
        _, y = horizontal
        upper = [s for s in segments if s.bottom >= y]
        lower = [s for s in segments if s.bottom < y]
        return _xy_cut(upper, width) + _xy_cut(lower, width)
    return sorted(segments, key=lambda s: (-round(s.top), s.x0))


def _widest_horizontal_gap(segments: list[Segment]) -> tuple[float, float] | None:
    """(height, y) of the widest horizontal strip no segment crosses, if wider than leading."""
    ordered = sorted(segments, key=lambda s: -s.top)
    best: tuple[float, float] | None = None
    low = ordered[0].bottom
    for segment in ordered[1:]:
        gap = low - segment.top
        if gap > 0.5 * segment.size and (best is None or gap > best[0]):
            best = (gap, (low + segment.top) / 2)
        low = min(low, segment.bottom)
    return best


def _vertical_gutter(segments: list[Segment], width: float) -> tuple[float, float] | None:
    """(width, x) of a gutter between text columns: no segment crosses it, running text on both sides.

    A table leaves gutters too; its cells line up in rows across the gutter and are narrow,
    so a gutter whose sides share most of their baselines is only cut when both sides are
    made of wide lines of text; nor is a gutter between narrow cells where one side sits
    wholly on the other's rows (one-line cells beside a column that wraps).
    """
    spans = sorted((s.x0, s.x1) for s in segments)
    start, end = spans[0][0], max(x1 for _, x1 in spans)
    best: tuple[float, float] | None = None
    reach = spans[0][1]
    for x0, x1 in spans[1:]:
        gap = x0 - reach
        x = (reach + x0) / 2
        # Near the page's middle; or, between columns of running text, near the middle of the
        # part of the page being cut (the last gutter of a four-column page lies at 80 %).
        inside = 0.2 * width < x < 0.8 * width
        if gap > 6 and (inside or 0.2 * (end - start) < x - start < 0.8 * (end - start)):
            left = [s for s in segments if s.x1 <= x]
            right = [s for s in segments if s.x0 >= x]
            if len(left) >= 2 and len(right) >= 2 and (best is None or gap > best[0]):
                aligned = _aligned(left, right)
                widths = [statistics.median(s.x1 - s.x0 for s in side) for side in (left, right)]
                narrow = all(w <= 0.3 * width for w in widths)
                wide = all(len(side) >= 4 and w > 0.3 * width for side, w in zip((left, right), widths))
                # Columns of prose: a gutter of two ems or more (a grid's gutter; table columns are
                # often set closer), wrapped prose on both sides, and no rows starting together.
                size = statistics.median(s.size for s in segments)
                prose = gap >= 2 * size and all(_running_text(side) for side in (left, right)) and not _rows_across(left, right)
                # A table column whose neighbour wraps long cells over many lines: few of the
                # neighbour's lines have a cell beside them, but every cell of the column sits on
                # a row the neighbour shares. Narrow cells on both sides, one side all aligned.
                cells = narrow and _aligned(right, left) >= 0.8
                if (inside and ((aligned < 0.5 and not cells) or wide)) or prose:
                    best = (gap, x)
        reach = max(reach, x1)
    return best


def _running_text(side: list[Segment]) -> bool:
    """The segments are lines of prose wrapped in columns, however narrow the columns.

    Text set on a grid puts the lines of neighbouring columns on the same baselines, as a
    table's rows are; what tells them apart is that prose goes on from line to line: most
    lines start in lower case under a line of the same column that ended no sentence, where a
    table's cells start afresh on each row. A page or a column wide enough is already taken
    as text (``_vertical_gutter``); this is for designed pages of three or four columns.
    """
    if len(side) < 4 or statistics.median(len(s.text) for s in side) < 15:
        return False
    going_on = 0
    for upper in side:
        below = [s for s in side if 0 < upper.top - s.top < 1.8 * upper.size and abs(upper.x0 - s.x0) < 2 * upper.size]
        if below:
            lower = max(below, key=lambda s: s.top)
            going_on += not upper.text.endswith((".", "!", "?", ":", ";")) and lower.text[:1].islower()
    return going_on >= 0.5 * (len(side) - 1)


def _rows_across(left: list[Segment], right: list[Segment]) -> bool:
    """Blocks start on the same baselines on both sides: a table's rows, not columns of prose.

    A table whose cells wrap reads as prose on both sides of a gutter, but each row starts
    its cells together, after the space that separates rows; paragraphs of neighbouring
    columns start where their own text puts them. Two such shared starts below the top
    line make rows.
    """

    def starts(side: list[Segment]) -> set[int]:
        found = set()
        top = max(s.top for s in side)
        for segment in side:
            above = [s.top - segment.top for s in side if s.top > segment.top and s.x0 < segment.x1 and segment.x0 < s.x1]
            if segment.top < top - 2 and (not above or min(above) > 1.6 * segment.size):
                found.add(round(segment.bottom))
        return found

    left_starts, right_starts = starts(left), starts(right)
    shared = sum(any(abs(a - b) <= 1 for b in right_starts) for a in left_starts)
    return shared >= 2 and shared >= 0.5 * min(len(left_starts), len(right_starts))


def _aligned(side: list[Segment], other: list[Segment]) -> float:
    """Share of ``side``'s segments that sit on a baseline of ``other``."""
    baselines = {round(s.bottom) for s in other}
    return sum(any(abs(round(s.bottom) - b) <= 1 for b in baselines) for s in side) / len(side)


def _group_callouts(page: _Page, body_size: float) -> None:
    """Make each key figure (« 59 % » set very large) one segment with its caption.

    Designed reports print the caption beside the figure or under it, often in a grid of
    figures: grouped before the reading order is decided, each figure and its caption read as
    one sentence wherever the grid puts them.
    """
    segments = page.segments
    figures = [s for s in segments if s.size >= 1.6 * body_size and FIGURE_ONLY.match(s.text)]
    taken: set[int] = set()
    for figure in figures:
        free = [s for s in segments if s is not figure and id(s) not in taken and s.size < 1.6 * body_size and s not in figures]
        beside = [
            s for s in free
            if figure.x1 - 2 <= s.x0 <= figure.x1 + 4 * body_size and s.top <= figure.top + body_size and s.bottom >= figure.bottom - 2 * body_size
        ]
        below = [
            s for s in free
            if figure.x0 - body_size <= s.x0 <= figure.x0 + 2 * body_size and 0 <= figure.bottom - s.top < 2.5 * body_size
        ]
        candidates = beside or below
        if not candidates:
            continue
        first = max(candidates, key=lambda s: s.top)
        caption = [first]
        while not caption[-1].text.endswith((".", "!", "?", "…")):
            following = [
                s for s in free
                if s not in caption and abs(s.x0 - first.x0) < body_size and 0 < caption[-1].top - s.top < 1.8 * s.size
            ]
            if not following:
                break
            caption.append(max(following, key=lambda s: s.top))
        text = figure.text
        for line in caption:
            text = text[:-1] + line.text if text[-1:] in HYPHENS and line.text[:1].islower() else f"{text} {line.text}"
        parts = [figure, *caption]
        merged = Segment(
            text=text, x0=min(p.x0 for p in parts), x1=max(p.x1 for p in parts), top=max(p.top for p in parts),
            bottom=min(p.bottom for p in parts), size=caption[0].size, bold=False, italic=False, page=figure.page,
            chars=sum(p.chars for p in parts),
        )
        taken.update(id(p) for p in parts)
        segments.append(merged)
    page.segments = [s for s in segments if id(s) not in taken]


# --------------------------------------------------------------------------------------------
# headings


def _alnum(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKC", text).casefold() if c.isalnum())


@dataclass
class _OutlineEntry:
    level: int
    title: str
    page: int | None  # 1-based
    top: float | None


def _outline(reader) -> list[_OutlineEntry]:
    entries: list[_OutlineEntry] = []

    def walk(items, level: int) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item, level + 1)
                continue
            try:
                page = reader.get_destination_page_number(item) + 1
            except Exception:  # noqa: BLE001 - a broken destination keeps its title
                page = None
            top = item.get("/Top") if hasattr(item, "get") else None
            title = collapse(normalize(str(getattr(item, "title", "") or "")))
            if title:
                entries.append(_OutlineEntry(level, title, page, float(top) if isinstance(top, (int, float)) else None))

    try:
        walk(reader.outline, 1)
    except Exception:  # noqa: BLE001 - an unreadable outline: fall back to font sizes
        return []
    return entries


def _split_at(text: str, letters: int) -> tuple[str, str]:
    """(first part holding ``letters`` alphanumerics, rest)."""
    seen = 0
    for index, char in enumerate(text):
        if char.isalnum():
            seen += 1
            if seen == letters:
                return text[: index + 1], text[index + 1 :]
    return text, ""


# An outline entry that starts like a list item: a bullet or a dash (numbers open headings too).
_ITEM_START = re.compile(r"^(?:[•◦‣⁃∙·▪●]|[–—-](?!\s*\d))")
# A title is a few words; a paragraph runs on (the limits ``_reads_as_heading`` puts on a title).
_TITLE_WORDS, _TITLE_CHARS = 25, 200


def _body_entry(title: str) -> bool:
    """An outline entry that is a paragraph of the text, not the title of a section.

    Word processors bookmark whatever paragraph has an outline level, and some templates give
    one to the body text style (LibreOffice then exports one bookmark per paragraph, list
    items included): such an entry is a list item, a run of sentences longer than any title,
    or one full sentence (as ``_reads_as_heading`` refuses a sentence for a title). Taken as a
    heading, its lines become a section title (``_mark_heading`` swallows every line the title
    covers) and the next bookmarked paragraph replaces that title before any block is written
    under it: the text ends up in no block at all.
    """
    words = len(title.split())
    if _ITEM_START.match(title) or words > _TITLE_WORDS or len(title) >= _TITLE_CHARS:
        return True
    return words >= 6 and bool(re.search(r"(?<!\.)\.$", title))  # a full stop, not an ellipsis « .. »


def _paragraph_outline(outline: list[_OutlineEntry]) -> bool:
    """The outline bookmarks the paragraphs, not the sections: a third of its entries or more
    are body text (``_body_entry``). Its short entries are then body lines too (« Débat : »,
    « Par M. X, cf. présentation »), not titles: the font sizes tell the headings better."""
    return bool(outline) and sum(_body_entry(e.title) for e in outline) * 3 >= len(outline)


def _apply_outline(pages: list[_Page], outline: list[_OutlineEntry]) -> int:
    """Mark the segments each outline entry titles; returns how many entries were found.

    Entries that are paragraphs (``_body_entry``) title nothing: their lines stay text.
    """
    found = 0
    for entry in outline:
        wanted = _alnum(_NUMBERING.sub("", entry.title))
        if not wanted or _body_entry(entry.title):
            continue
        candidates = [p for p in pages if entry.page is None or p.number in (entry.page, entry.page + 1)]
        match = None
        for page in candidates:
            segments = page.segments
            best: tuple[float, int] | None = None
            for index, segment in enumerate(segments):
                if segment.heading is not None:
                    continue
                text = _alnum(_NUMBERING.sub("", segment.text))
                if text and (text.startswith(wanted) or (len(text) >= 8 and wanted.startswith(text))):
                    distance = abs(segment.top - entry.top) if entry.top is not None and page.number == entry.page else 0.0
                    if best is None or distance < best[0]:
                        best = (distance, index)
            if best is not None:
                match = (page, best[1])
                break
        if match is None:
            continue
        page, index = match
        found += 1
        _mark_heading(page, index, wanted, entry)
    return found


def _mark_heading(page: _Page, index: int, wanted: str, entry: _OutlineEntry) -> None:
    """Turn segments[index] (and the next ones, for a title on two lines) into the heading."""
    segments = page.segments
    segment = segments[index]
    number = _NUMBERING.match(segment.text)
    prefix_letters = len(_alnum(number.group(0))) if number else 0
    text_letters = len(_alnum(segment.text))
    if text_letters - prefix_letters > len(wanted):  # a run-in heading: the paragraph follows
        head, rest = _split_at(segment.text, prefix_letters + len(wanted))
        head = head + rest[: len(rest) - len(rest.lstrip("?!.:… "))]
        rest = rest.lstrip("?!.:… ")
        segments.insert(index + 1, Segment(rest, segment.x0, segment.x1, segment.top, segment.bottom, segment.size, False, segment.italic, segment.page, len(rest)))
        segment.text = head
    segment.heading = entry.level
    segment.text, segment.glyphs = entry.title, []  # its glyphs no longer spell its text
    covered = text_letters - prefix_letters
    following = index + 1
    while covered < len(wanted) and following < len(segments):
        nxt = segments[following]
        more = _alnum(nxt.text)
        if not more or not wanted[covered:].startswith(more[: max(1, min(len(more), len(wanted) - covered))]):
            break
        if len(more) > len(wanted) - covered:  # the title ends inside this line
            head, rest = _split_at(nxt.text, len(wanted) - covered)
            nxt.text, nxt.glyphs = rest.lstrip("?!.:… "), []
            covered = len(wanted)
            break
        covered += len(more)
        del segments[following]


def _font_headings(pages: list[_Page], body_size: float) -> None:
    """Heading levels from font sizes: larger than the body text, or bold and slightly larger."""
    sizes: Counter[float] = Counter()
    bold_sizes: set[float] = set()
    for page in pages:
        for s in page.segments:
            sizes[s.size] += s.chars
            if s.bold:
                bold_sizes.add(s.size)
    heading_sizes = sorted(
        {s for s in sizes if s >= body_size * 1.15 or (s > body_size * 1.04 and s in bold_sizes)}, reverse=True
    )
    # A largest size used only on the first page is the document title: it ranks with the
    # top-level headings, so the first real heading replaces it (as "# Title" does in Markdown).
    title_size = None
    if len(heading_sizes) > 1 and all(s.size != heading_sizes[0] for p in pages[1:] for s in p.segments):
        title_size = heading_sizes.pop(0)
    for page in pages:
        seen: set[int] = set()
        for first in page.segments:
            level = 1 if first.size == title_size else (heading_sizes.index(first.size) + 1 if first.size in heading_sizes else None)
            if id(first) in seen or level is None or first.italic or FIGURE_ONLY.match(first.text):
                continue  # italics larger than the text are a pull quote, not a title
            # The block: the lines of the same size set right under the first one (found by
            # position: the reading order may have put a neighbouring column's line between).
            block = [first]
            while below := [s for s in page.segments if id(s) not in seen and s not in block and _same_block(block[-1], s)]:
                block.append(max(below, key=lambda s: s.top))
            seen.update(id(s) for s in block)
            if _reads_as_heading(" ".join(s.text for s in block), len(block)):
                for segment in block:
                    segment.heading = level
        _number_headings(page)


# A sentence ends here: a full stop (not an ellipsis « .. »), maybe a footnote call after it,
# or a closing quote, a comma, a semicolon.
_ENDS_SENTENCE = re.compile(r"(?<!\.)\.[\d¹²³⁴⁵⁶⁷⁸⁹⁰]*$|[»\";,]$")


def _same_block(upper: Segment, lower: Segment) -> bool:
    """``lower`` is the next line of the text block ``upper`` belongs to (same type, right under it).

    A change of weight starts another block (a bold title over text of its size), unless the
    line goes on with the sentence in lower case: words set in bold inside a paragraph.
    """
    return (
        lower.size == upper.size
        and (lower.bold == upper.bold or lower.text[:1].islower())
        and -0.25 * upper.size <= upper.bottom - lower.top < 0.8 * upper.size  # loose boxes of tight leading overlap
        and lower.x0 < upper.x1
        and upper.x0 < lower.x1
    )


def _reads_as_heading(text: str, lines: int) -> bool:
    """A block set larger than the body text that reads as a title, not as a lead paragraph.

    Designed documents set their opening paragraph, a quote or a key sentence larger than
    the body: a title is short (a few lines, a couple of dozen words), does not end a sentence
    (a question mark may end it), and one ending with a colon is a short label (« Annexes : »),
    not the sentence that announces a list.
    """
    words = len(text.split())
    if len(text) >= 200 or words > 25 or lines > 4 or _ENDS_SENTENCE.search(text):
        return False
    return not (text.endswith(":") and words > 8)


def _number_headings(page: _Page) -> None:
    """A chapter number set apart (« 1. » drawn large beside or above its title) opens its title.

    Designed documents print the number of a chapter in a size of its own, as a separate
    piece of text: left alone it would be read as a paragraph « 1. » and the title would lose
    its number.
    """
    kept: list[Segment] = []
    segments = page.segments
    for index, segment in enumerate(segments):
        following = segments[index + 1] if index + 1 < len(segments) else None
        if (
            segment.heading is None
            and following is not None
            and following.heading is not None
            and re.fullmatch(r"\d{1,2}\.?", segment.text)
            and segment.size >= following.size
        ):
            following.text = f"{segment.text.rstrip('.')}. {following.text}"
            following.glyphs = []
            continue
        kept.append(segment)
    page.segments = kept


# --------------------------------------------------------------------------------------------
# segments -> blocks


class _Assembler:
    """Walks a page's segments in reading order and emits paragraphs, lists, tables, call-outs."""

    def __init__(self, title: str, body_size: float, hyphenated: set[str], words: set[str]):
        self.title = title
        self.body_size = body_size
        self.hyphenated = hyphenated  # compounds the document writes with a hyphen mid-line
        self.words = words
        self.path: list[tuple[int, str]] = []
        self.blocks: list[Block] = []
        self.merge_headings = True  # font-size headings come line by line; outline ones are whole
        self._heading_open = False

    def section(self) -> str:
        # A title repeated under itself (a chapter's divider page, then its first page) is one.
        titles: list[str] = []
        for _, title in self.path:
            if not titles or _alnum(_NUMBERING.sub("", title)) != _alnum(_NUMBERING.sub("", titles[-1])):
                titles.append(title)
        return SECTION_SEPARATOR.join(titles) if titles else self.title

    # -- text joining ---------------------------------------------------------------------------

    def join(self, text: str, line: str) -> str:
        """Append a line to running text, rejoining a word hyphenated at the line end."""
        if not text:
            return line
        if text[-1] in HYPHENS and len(text) > 1 and text[-2].isalpha() and line[:1].isalpha() and line[:1].islower():
            head = re.search(r"(\w+)[" + HYPHENS + r"]$", text)
            tail = re.match(r"\w+", line)
            if head and tail:
                compound = f"{head.group(1)}-{tail.group(0)}".lower()
                joined = f"{head.group(1)}{tail.group(0)}".lower()
                if compound in self.hyphenated and joined not in self.words:
                    return text[:-1] + "-" + line
            return text[:-1] + line
        return f"{text} {line}"

    # -- emitting -------------------------------------------------------------------------------

    def emit(self, text: str, page: int, role: str = "text") -> None:
        text = collapse(normalize(text))
        if text:
            self.blocks.append(Block(text=text, page=page, section=self.section(), role=role))  # type: ignore[arg-type]

    def heading(self, segment: Segment) -> None:
        level = segment.heading or 1
        text = collapse(normalize(segment.text))
        if self.merge_headings and self.path and self.path[-1][0] == level and getattr(self, "_heading_open", False):
            self.path[-1] = (level, f"{self.path[-1][1]} {text}")  # a heading on two lines
        else:
            self.path = [(lvl, t) for lvl, t in self.path if lvl < level] + [(level, text)]
        self._heading_open = True

    def page(self, page: _Page) -> None:
        self.blocks_on_page = False
        lines = _lines(page.segments)
        spacing = _line_spacing(lines, self.body_size)
        paragraph: list[Segment] = []
        items: list[str] = []
        bullet_x: float | None = None
        last: Segment | None = None
        quote_before_list = False

        def flush_paragraph() -> None:
            nonlocal quote_before_list
            if not paragraph:
                return
            lead = 0
            while lead < len(paragraph) and paragraph[lead].bold:
                lead += 1
            label = " ".join(s.text for s in paragraph[:lead])
            # A bold first line whose sentence goes on, in lower case, on the next line is a
            # sentence that starts with emphasis (« Le Deep Learning ou apprentissage profond
            # / est une forme… »), not a box title.
            goes_on = lead < len(paragraph) and paragraph[lead].text[:1].islower()
            if 0 < lead < len(paragraph) and len(label) < 150 and not label.endswith((".", "!", "?", ";", ",")) and not goes_on:
                self.emit(label, page.number, "label")  # a box title: "Lexique : Schéma de données"
                del paragraph[:lead]
            elif lead == len(paragraph) and len(label) < 120 and not label.endswith(_SENTENCE_END) and not FIGURE_ONLY.match(label):
                # A short bold line standing alone, in the body's size (« À QUI S’ADRESSE CETTE
                # FICHE », « DÉFINITIONS »): the title of the box or list below, context for
                # its chunk rather than a sentence to quote.
                self.emit(label, page.number, "label")
                self.blocks_on_page = True
                quote_before_list = False
                paragraph.clear()
                return
            text = ""
            for seg in paragraph:
                text = self.join(text, seg.text)
            italic = all(s.italic for s in paragraph)
            caption = _under_figure(paragraph[0], page, self.body_size) and (italic or bool(FIGURE_LABEL.match(text)))
            # A paragraph the previous page left open goes on at the top of this one (a heading,
            # a list or a table first on the page closes it): it stays one paragraph, on the
            # page where it starts, as chunks never cross pages. Likewise the last item of a
            # list cut by the page break.
            previous = self.blocks[-1] if self.blocks and not self.blocks_on_page else None
            if previous is not None and previous.page != page.number - 1:
                previous = None
            if previous is not None and previous.role == "text" and _continues(previous.text, text):
                previous.text = self.join(previous.text, text)
            elif previous is not None and previous.role == "list" and previous.items and _continues(previous.items[-1], text):
                previous.items[-1] = collapse(normalize(self.join(previous.items[-1], text)))
            else:
                self.emit(text, page.number, "caption" if caption else "text")
            self.blocks_on_page = True
            quote_before_list = italic and not caption
            paragraph.clear()

        def flush_list() -> None:
            nonlocal bullet_x
            cleaned = [collapse(normalize(i)) for i in items if collapse(i)]
            if len(cleaned) == 1 and quote_before_list and self.blocks and self.blocks[-1].role == "text":
                self.blocks[-1].text += f" — {cleaned[0]}"  # a pull quote's attribution line
            elif cleaned:
                self.blocks.append(Block(page=page.number, section=self.section(), role="list", items=cleaned))
                self.blocks_on_page = True
            items.clear()
            bullet_x = None

        index = 0
        while index < len(lines):
            line = lines[index]
            first = line[0]
            if first.heading is not None:
                flush_paragraph()
                flush_list()
                self.blocks_on_page = True  # what follows a heading opens a new section
                for seg in line:
                    self.heading(seg)
                last = None
                index += 1
                continue
            self._heading_open = False
            _split_tight_header(lines, index, spacing)
            table_end, header_lines = _table_end(lines, index, spacing), 1
            if table_end is None and index + 1 < len(lines) and _header_continues(line, lines[index + 1]):
                table_end, header_lines = _table_end(lines, index + 1, spacing), 2  # a header on two lines
            if table_end is not None:
                flush_paragraph()
                flush_list()
                self.table(lines[index:table_end], page, header_lines)
                index = table_end
                last = None
                continue
            for seg in line:
                bullet = BULLET.match(seg.text)
                if (
                    bullet
                    and bullet.group(1) in ("–", "—", "-")
                    and seg.text[bullet.end() : bullet.end() + 1].islower()
                    and paragraph
                    and not items
                    and not _new_paragraph(paragraph[-1], seg, spacing, indent=False)
                    and not paragraph[-1].text.endswith((":", ".", ";", "!", "?"))
                ):
                    bullet = None  # a dash inside the sentence of the line above (« puces IA – / – qui demandent »)
                if bullet and len(seg.text) > len(bullet.group(0)):
                    flush_paragraph()
                    items.append(seg.text[bullet.end():])
                    bullet_x = seg.x0
                elif items and bullet_x is not None and not _new_paragraph(last, seg, spacing, indent=False) and (
                    seg.x0 >= bullet_x + 0.5 * seg.size
                    or (abs(seg.x0 - bullet_x) < 0.5 * seg.size and not items[-1].rstrip().endswith((".", ";", "!", "?")))
                ):
                    items[-1] = self.join(items[-1], seg.text)  # the item goes on, on the next line
                else:
                    if items:
                        flush_list()
                    if _new_paragraph(paragraph[-1] if paragraph else None, seg, spacing):
                        flush_paragraph()
                    paragraph.append(seg)
                last = seg
            index += 1
        flush_paragraph()
        flush_list()

    def table(self, lines: list[list[Segment]], page: _Page, header_lines: int = 1) -> None:
        """A table: the first line is the header; rows start where the first column starts a cell.

        When rows are separated by more space than the lines inside a cell, only that larger
        gap starts a row (cells then hold several lines); otherwise every line is a row.
        """
        columns = sorted(s.x0 for s in lines[header_lines - 1])
        header = ["" for _ in columns]
        for line in lines[:header_lines]:
            for seg in line:
                col = _column(seg, columns)
                header[col] = self.join(header[col], seg.text)
        body = [seg for line in lines[header_lines:] for seg in line]
        # Cells: consecutive lines of one column, unless a wider gap separates them. When no
        # gap is wider than the others, every line is a row of its own.
        by_column: dict[int, list[Segment]] = {}
        for seg in body:
            by_column.setdefault(_column(seg, columns), []).append(seg)
        steps = [a.top - b.top for segs in by_column.values() for a, b in zip(segs, segs[1:]) if a.top - b.top > 0.5 * b.size]
        pitch = min(steps) if steps else 0.0
        spaced = any(step > 1.15 * pitch for step in steps)
        cells: dict[int, list[tuple[float, str]]] = {}
        for col, segs in by_column.items():
            for previous, seg in zip([None, *segs], segs):
                if previous is None or not spaced or previous.top - seg.top > 1.15 * pitch:
                    cells.setdefault(col, []).append((seg.top, seg.text))
                else:
                    top, text = cells[col][-1]
                    cells[col][-1] = (top, self.join(text, seg.text))
        anchor = 0 if 0 in cells else max(cells, key=lambda c: len(cells[c]))
        starts = [top for top, _ in cells[anchor]]
        rows = [["" for _ in columns] for _ in starts]
        for col, column_cells in cells.items():
            for top, text in column_cells:
                row = max([i for i, start in enumerate(starts) if start >= top - 2] or [0])
                rows[row][col] = self.join(rows[row][col], text)
        clean = lambda cells: [collapse(normalize(c)) for c in cells]  # noqa: E731
        rows = [clean(r) for r in rows if any(c.strip() for c in r)]
        self.blocks.append(Block(page=page.number, section=self.section(), role="table", header=clean(header), rows=rows))
        self.blocks_on_page = True


def _continues(previous: str, text: str) -> bool:
    """``text``, first on its page, finishes the paragraph the previous page left open."""
    return bool(text) and text[0].islower() and (previous[-1:] in HYPHENS or not previous.endswith(_SENTENCE_END))


def _column(segment: Segment, columns: list[float]) -> int:
    """The column whose start is the closest at or before the segment's start."""
    fitting = [i for i, start in enumerate(columns) if segment.x0 >= start - 4]
    return fitting[-1] if fitting else 0


def _lines(segments: list[Segment]) -> list[list[Segment]]:
    """Segments in reading order grouped by line (same baseline, left to right)."""
    lines: list[list[Segment]] = []
    for segment in segments:
        if (
            lines
            and segment.heading is None
            and lines[-1][0].heading is None
            and abs(lines[-1][-1].bottom - segment.bottom) < 0.35 * segment.size
            and segment.x0 > lines[-1][-1].x1
        ):
            lines[-1].append(segment)
        else:
            lines.append([segment])
    return lines


def _line_spacing(lines: list[list[Segment]], body_size: float) -> float:
    pitches = [
        a[0].top - b[0].top
        for a, b in zip(lines, lines[1:])
        if 0 < a[0].top - b[0].top < 2.5 * max(a[0].size, b[0].size)
    ]
    return statistics.median(pitches) if pitches else body_size * 1.4


def _table_end(lines: list[list[Segment]], index: int, spacing: float) -> int | None:
    """End (exclusive) of a table starting at ``lines[index]``, or None when it is not a table.

    A table starts with a line of two or more short cells (its header) and goes on while every
    segment of every line fits inside one of the header's columns.
    """
    head = lines[index]
    if len(head) < 2 or any(len(s.text) > 60 or s.text.endswith((".", ":", ";", ",")) for s in head):
        return None
    columns = sorted(s.x0 for s in head)

    def fits(segment: Segment) -> bool:
        col = _column(segment, columns)
        if segment.x0 < columns[0] - 4:
            return False
        return col == len(columns) - 1 or segment.x1 <= columns[col + 1] + 2

    end = index + 1
    multi = 0
    while end < len(lines):
        line = lines[end]
        if line[0].heading is not None or lines[end - 1][0].top - line[0].top > 3 * spacing:
            break
        if not all(fits(s) for s in line):
            break
        multi += len(line) >= 2
        end += 1
    return end if end - index >= 2 and multi >= 1 else None


def _split_tight_header(lines: list[list[Segment]], index: int, spacing: float) -> None:
    """Cut a table header set as tightly as running text into its cells, in place.

    A header's cells are often closer together than the gap that separates segments (« Nom du
    jeu de données Variable(s) pivot(s) Description Producteur » read as one run of text): the
    table below, once found, gives its column starts, and a line (or two) right above it whose
    words start exactly at every column start is its header.
    """
    for size in (1, 2):
        start = index + size
        if start >= len(lines) or any(line[0].heading is not None for line in lines[index : start + 1]):
            return
        if _table_end(lines, start, spacing) is None:
            continue
        columns = sorted(s.x0 for s in lines[start])
        if lines[start - 1][0].top - lines[start][0].top > 2.5 * spacing:
            return
        header = [[piece for seg in line for piece in _cut_at(seg, columns[1:])] for line in lines[index:start]]
        on_columns = all(any(abs(piece.x0 - x) <= 2 for x in columns) for line in header for piece in line)
        # Header cells, as ``_table_end`` reads them: short, not ending a sentence; a first line
        # right above the second and aligned with its columns (``_header_continues``).
        cells = all(len(piece.text) <= 60 and not piece.text.endswith((".", ":", ";", ",")) for line in header for piece in line)
        stacked = size == 1 or _header_continues(header[0], header[1])
        if on_columns and cells and stacked and len(header[-1]) == len(columns) and len(header[-1]) > len(lines[start - 1]):
            lines[index:start] = header
        return


def _header_continues(line: list[Segment], head: list[Segment]) -> bool:
    """``line`` is the first line of a two-line table header whose second line is ``head``."""
    if len(head) < 2 or line[0].heading is not None or any(s.text.endswith((".", ":", ";")) for s in line):
        return False
    columns = sorted(s.x0 for s in head)
    return line[0].top - head[0].top < 1.6 * line[0].size and all(any(abs(s.x0 - c) < 4 for c in columns) for s in line)


def _new_paragraph(previous: Segment | None, segment: Segment, spacing: float, indent: bool = True) -> bool:
    if previous is None:
        return False
    gap = previous.top - segment.top
    if gap > 1.45 * spacing or gap < -0.5 * spacing:
        return True
    if previous.italic != segment.italic or abs(previous.size - segment.size) > 0.12 * previous.size:
        return True
    if indent and segment.x0 > previous.x0 + 1.2 * segment.size and previous.text.endswith(_SENTENCE_END):
        return True  # first-line indent
    return False


def _under_figure(segment: Segment, page: _Page, body_size: float) -> bool:
    """The paragraph starts right under (or over, for captions set above) a picture or a chart."""
    for x0, bottom, x1, top in page.figures:
        overlaps = segment.x0 < x1 and segment.x1 > x0
        if overlaps and (0 <= bottom - segment.top < 3 * body_size or 0 <= segment.bottom - top < 2 * body_size):
            return True
    return False


# --------------------------------------------------------------------------------------------
# entry point


def _open(path: Path):
    """(pypdf reader, pdfium document); raises LoaderError for encrypted or broken files."""
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

    from . import LoaderError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings duplicate our one-line errors
    encrypted = "PDF chiffré (protégé par mot de passe) : retirez la protection puis réessayez"
    try:
        reader = PdfReader(str(path), strict=False)
        if reader.is_encrypted:
            try:
                if not reader.decrypt(""):
                    raise LoaderError(encrypted)
            except (FileNotDecryptedError, DependencyError, NotImplementedError) as error:
                raise LoaderError(encrypted) from error
        len(reader.pages)
    except LoaderError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError, IndexError, RecursionError) as error:
        reason = collapse(str(error))[:120] or type(error).__name__
        raise LoaderError(f"PDF illisible (corrompu ou tronqué) : {reason}") from error
    except Exception as error:  # pypdf raises many kinds of errors on broken files
        raise LoaderError(f"PDF illisible (corrompu ou tronqué) : {type(error).__name__}") from error
    import pypdfium2 as pdfium

    try:
        document = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as error:
        raise LoaderError(f"PDF illisible (corrompu ou tronqué) : {collapse(str(error))[:120]}") from error
    return reader, document


# What authoring tools write in /Title when the author wrote none: the file's name, the
# template's placeholder, the Word document it was exported from.
_PLACEHOLDER_TITLE = re.compile(
    r"^(?:untitled|sans[ -]titre|titre|title|document ?\d*|diapositive ?\d*|présentation ?\d*|"
    r"microsoft (?:word|powerpoint|excel) - .*|.*\.(?:docx?|odt|rtf|pptx?|odp|xlsx?|pdf|indd|tex|qxp))$",
    re.IGNORECASE,
)


def meaningful_title(title: str, path: Path) -> bool:
    """A /Title worth showing a reader: words, not a file name or a tool's placeholder."""
    if len(re.findall(r"[^\W\d_]", title)) < 3 or _PLACEHOLDER_TITLE.match(title):
        return False
    if title.casefold() == path.stem.casefold():
        return False
    return not (" " not in title and re.search(r"[_.]", title))  # « rapport_final_v3 »


def load_pdf(path: Path, max_pages: int | None = None, deadline: "Deadline | None" = None) -> LoadedDocument:
    """A PDF's blocks; ``max_pages`` refuses a longer document before reading it, ``deadline``
    stops one whose pages take too long to read (both ``LoaderError``)."""
    from . import LoaderError, _year_in

    reader, document = _open(path)
    try:
        page_count = len(document)
        if page_count == 0:
            raise LoaderError("PDF illisible (corrompu ou tronqué) : aucune page")
        if max_pages is not None and page_count > max_pages:
            raise LoaderError(f"trop de pages ({page_count}) : limite {max_pages} pages par document (NOTE_RAG_MAX_PAGES)")
        pages = []
        for index in range(page_count):
            page = document[index]
            pages.append(_Page(index + 1, page.get_width(), page.get_height(), _page_segments(page, index + 1), _figure_regions(page)))
            if deadline is not None:
                deadline.check(index + 1, page_count)
    finally:
        document.close()
    if sum(len(s.text) for p in pages for s in p.segments) < 20:
        raise LoaderError("PDF sans couche texte (document scanné ?) : l'OCR n'est pas pris en charge")

    _drop_furniture(pages)
    sizes: Counter[float] = Counter()
    for page in pages:
        for s in page.segments:
            sizes[s.size] += s.chars
    body_size = sizes.most_common(1)[0][0] if sizes else 10.0
    for page in pages:
        _group_callouts(page, body_size)
        page.segments = _xy_cut(page.segments, page.width)
    outline = _outline(reader)
    if _paragraph_outline(outline):
        outline = []  # it bookmarks paragraphs: no table of contents, headings come from font sizes
    from_outline = bool(outline) and _apply_outline(pages, outline) >= max(1, len(outline) // 3)
    if not from_outline:
        for page in pages:
            for s in page.segments:
                s.heading = None
        _font_headings(pages, body_size)

    metadata = reader.metadata or {}
    title = collapse(normalize(str(metadata.get("/Title") or ""))) if metadata else ""
    if not meaningful_title(title, path):
        # The first page's largest words: the title as printed (a key figure set larger, « 59 % », is not one).
        worded = [s for s in (pages[0].segments if pages else []) if len(re.findall(r"[^\W\d_]", s.text)) >= 3]
        title = collapse(normalize(max(worded, key=lambda s: s.size).text)) if worded else ""
    hyphenated, words = _vocabulary(pages)
    assembler = _Assembler(title or path.stem, body_size, hyphenated, words)
    assembler.merge_headings = not from_outline
    for number, page in enumerate(pages, start=1):
        assembler.page(page)
        if deadline is not None:
            deadline.check(number, page_count)
    info = DocumentInfo(
        doc_id=path.stem,
        title=title or path.stem,
        year=_year_in(title, metadata.get("/Subject") if metadata else None),
        source=str(path.resolve()),
        publisher=collapse(str(metadata.get("/Author"))) if metadata and metadata.get("/Author") else None,
    )
    return LoadedDocument(info=info, blocks=tidy(assembler.blocks), pages=page_count)


def _vocabulary(pages: list[_Page]) -> tuple[set[str], set[str]]:
    """Hyphenated compounds written mid-line, and all words, across the document."""
    hyphenated: set[str] = set()
    words: set[str] = set()
    pattern = re.compile(r"\w+(?:[" + HYPHENS + r"]\w+)+")
    for page in pages:
        for segment in page.segments:
            text = segment.text.rstrip(HYPHENS)
            for match in pattern.finditer(text):
                hyphenated.add(re.sub("[" + HYPHENS + "]", "-", match.group(0)).lower())
            words.update(w.lower() for w in re.findall(r"\w+", text))
    return hyphenated, words
