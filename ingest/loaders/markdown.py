"""Markdown, R Markdown and Quarto (and plain text) -> structural blocks.

Parsed with markdown-it (CommonMark + tables + ``:::`` containers), so lists, tables,
blockquotes, admonitions and code are recognised by a parser rather than by line patterns:

- headings give the section path (text before the first heading belongs to the title, so an
  R Markdown file with its title in the front matter and the Markdown made from it agree);
- a list becomes one ``list`` block (nested items folded into their parent item) and a table
  one ``table`` block with its header; ``ingest.structure`` attaches the sentence that
  introduces them;
- admonitions (VuePress ``::: tip Titre``, ``::: lexique Terme``, Pandoc/Quarto fenced divs
  and callouts) keep their body, their title becoming a ``label`` block;
- an italic paragraph is a caption only when it sits under a figure (an image, or a code chunk
  that draws one); otherwise it is content (testimonies set their quotes in italics);
- code, images, raw HTML scripts and paragraphs that are only a link are dropped;
- an unclosed code fence or ``:::`` is closed at the next heading, with a warning, instead of
  swallowing the rest of the file.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterator

from ..models import SECTION_SEPARATOR, Block
from ..text import collapse, looks_like_heading

# Admonition types whose name is presentation, not content ("::: tip Titre" shows only
# "Titre"); any other container type is a term of the document ("::: lexique Terme" is printed
# "Lexique : Terme"). These are the standard types of VuePress, Docusaurus, MkDocs and Quarto.
PRESENTATION_TYPES = {
    "tip", "warning", "danger", "note", "info", "details", "important", "caution", "success", "error",
    "callout", "callout-note", "callout-tip", "callout-warning", "callout-important", "callout-caution",
    "column", "columns", "sidenote", "aside", "box", "center", "figure", "panel", "div", "content",
}

_HEADING_LINE = re.compile(r"^ {0,3}#{1,6}\s")
_FENCE_LINE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_CONTAINER_LINE = re.compile(r"^ {0,3}(:{3,})\s*(\S.*)?$")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_RAW_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_FIGURE_CHUNK = re.compile(r"^\{?\s*(r|python|julia|ojs|mermaid|dot)\b", re.IGNORECASE)
# Static site generators' syntax inside Markdown pages: template tags (Jinja, Nunjucks, Liquid:
# ``{% … %}``), expressions and shortcodes (``{{ … }}``, Hugo's ``{{< … >}}``), and attribute
# lists after a link or a heading (``{target="_blank"}``, ``{#id .class}``). The site renders
# them into markup; read as text they are noise in the middle of sentences.
_TEMPLATE_TAG = re.compile(r"\{%-?.*?-?%\}", re.DOTALL)
_TEMPLATE_EXPRESSION = re.compile(r"\{\{.*?\}\}", re.DOTALL)
_ATTRIBUTE = r"""(?:[#.][\w-]+|[\w-]+=(?:"[^"\n]*"|'[^'\n]*'|[^\s{}]+))"""  # #id, .class or key=value
_ATTRIBUTE_LIST = re.compile(rf"\{{:?\s*{_ATTRIBUTE}(?:\s+{_ATTRIBUTE})*\s*\}}")
_STRING_LITERAL = re.compile(r'"((?:[^"\\]|\\.)*)"', re.DOTALL)


@lru_cache(maxsize=1)
def _parser():
    from markdown_it import MarkdownIt
    from mdit_py_plugins.container import container_plugin

    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    # One container rule for every name: "::: anything" opens a block, ":::" closes it.
    container_plugin(md, "any", validate=lambda params, *args: True)
    return md


def close_unclosed(text: str) -> tuple[str, list[str]]:
    """Close, at the next heading, any code fence or ``:::`` block that is never closed.

    A fence is "unclosed" when no matching closing line follows it before the end of the
    file; without this, the parser would read the rest of the document as code or as one div.
    """
    lines = text.split("\n")
    warnings: list[str] = []
    out: list[str] = []
    fence: tuple[str, int] | None = None  # (marker, line) of an open code fence
    divs: list[int] = []  # colon counts of open ::: blocks

    def closes_later(start: int, predicate) -> bool:
        return any(predicate(line) for line in lines[start + 1 :])

    for number, line in enumerate(lines):
        if fence is not None:
            marker = fence[0]
            if line.strip().startswith(marker) and line.strip().strip(marker[0]) == "":
                fence = None
            elif _HEADING_LINE.match(line) and not fence[1]:
                out.append(marker)
                warnings.append(f"bloc de code non fermé (ligne {number}) : fermé au titre suivant")
                fence = None
            out.append(line)
            continue
        match = _FENCE_LINE.match(line)
        if match:
            marker = match.group(1)
            closed = closes_later(number, lambda l, m=marker: l.strip().startswith(m) and l.strip().strip(m[0]) == "")
            fence = (marker, closed)
            out.append(line)
            continue
        container = _CONTAINER_LINE.match(line)
        if container:
            colons = len(container.group(1))
            if container.group(2):  # an opening line
                divs.append(colons)
            elif divs:
                divs.pop()
            out.append(line)
            continue
        if _HEADING_LINE.match(line) and divs:
            warnings.append(f"bloc « ::: » non fermé avant la ligne {number + 1} : fermé au titre suivant")
            while divs:
                out.append(":" * divs.pop())
            out.append("")
        out.append(line)
    if fence is not None and not fence[1]:
        out.append(fence[0])
    return "\n".join(out), warnings


def _inline_text(token) -> tuple[str, bool, bool]:
    """(plain text, has an image, wholly emphasised) of an inline token."""
    parts: list[str] = []
    has_image = False
    emphasis_depth = 0
    outside_emphasis = ""
    link_depth = 0
    after_image = False
    for child in token.children or []:
        kind = child.type
        if kind == "image":
            has_image = after_image = True
            continue
        if after_image and kind == "text" and child.content.startswith("{"):
            after_image = False
            continue  # Pandoc image attributes: ![](x.png){width="200px"}
        after_image = False
        if kind == "em_open":
            emphasis_depth += 1
        elif kind == "em_close":
            emphasis_depth = max(0, emphasis_depth - 1)
        elif kind == "link_open":
            link_depth += 1
        elif kind == "link_close":
            link_depth = max(0, link_depth - 1)
        text = ""
        if kind in ("text", "code_inline"):
            text = child.content
        elif kind in ("softbreak", "hardbreak"):
            text = " "
        elif kind == "html_inline":
            text = " " if re.match(r"<br\b", child.content, re.IGNORECASE) else ""
        if text:
            parts.append(text)
            if emphasis_depth == 0 and text.strip():
                outside_emphasis += text
    plain = collapse("".join(parts))
    italic = bool(plain) and not outside_emphasis.strip(" .,;:!?()[]*_")
    return plain, has_image, italic


def _only_link(token) -> bool:
    """A paragraph that is only a link ("Télécharger l'étude"): navigation, not content."""
    children = [
        c for c in token.children or []
        if not (c.type == "text" and not c.content.strip(" .*_➡️→"))
        and c.type not in ("em_open", "em_close", "strong_open", "strong_close", "image", "softbreak")
    ]
    if not children or children[0].type != "link_open":
        return False
    depth = 0
    for child in children:
        if child.type == "link_open":
            depth += 1
        elif child.type == "link_close":
            depth -= 1
        elif depth == 0 and child.type not in ("softbreak",):
            return False
    return True


def _container_label(info: str) -> str:
    """The label of an admonition from its opening line ("tip Titre", "{.callout-note title=…}")."""
    info = info.strip()
    attributes = re.match(r"^\{(.*)\}\s*(.*)$", info)
    if attributes:
        title = re.search(r'title\s*=\s*"([^"]*)"', attributes.group(1))
        classes = re.findall(r"\.([\w-]+)", attributes.group(1))
        kind = classes[0] if classes else ""
        text = title.group(1) if title else attributes.group(2)
    else:
        kind, _, text = info.partition(" ")
    kind, text = kind.strip().lower(), collapse(text)
    if not text or not kind or kind in PRESENTATION_TYPES or kind.startswith("callout"):
        return text  # a bare "::: sidenote" is layout, not a title
    name = kind.replace("-", " ").replace("_", " ").capitalize()
    return f"{name} : {text}"


def _items(tokens, start: int) -> tuple[list[str], int]:
    """Items of the list opening at ``tokens[start]`` (nested items folded in) and the index after it."""
    items: list[str] = []
    depth = 0
    index = start
    current: list[str] = []
    nested: list[str] = []
    while index < len(tokens):
        token = tokens[index]
        if token.type in ("bullet_list_open", "ordered_list_open"):
            depth += 1
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            depth -= 1
            if depth == 0:
                break
        elif token.type == "list_item_open" and depth == 1:
            current, nested = [], []
        elif token.type == "list_item_close" and depth == 1:
            text = " ".join(current)
            if nested:
                text = f"{text.rstrip(' :')} : {' ; '.join(nested)}" if text else " ; ".join(nested)
            if text.strip():
                items.append(collapse(text))
        elif token.type == "inline":
            plain, _, _ = _inline_text(token)
            if plain:
                (current if depth == 1 else nested).append(plain)
        index += 1
    return items, index + 1


def _table(tokens, start: int) -> tuple[list[str], list[list[str]], int]:
    header: list[str] = []
    rows: list[list[str]] = []
    row: list[str] = []
    in_head = False
    index = start
    while index < len(tokens):
        token = tokens[index]
        if token.type == "table_close":
            break
        if token.type == "thead_open":
            in_head = True
        elif token.type == "thead_close":
            in_head = False
        elif token.type == "tr_open":
            row = []
        elif token.type == "tr_close":
            if in_head:
                header = row
            elif any(cell for cell in row):
                rows.append(row)
        elif token.type == "inline":
            row.append(_inline_text(token)[0])
        index += 1
    return header, rows, index + 1


def _html_text(html: str) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.DOTALL | re.IGNORECASE)
    return collapse(_RAW_TAG.sub(" ", html))


def without_templating(body: str) -> str:
    """The Markdown with its site generator's syntax taken out, its content kept.

    A template tag that sets a component's data (``{% set items = [{ title: "…", content:
    "<p>…</p>" }] %}``) holds text the page shows: its string literals of two words or more are
    kept, each as a paragraph (unindented, so that Markdown does not read it as code); the
    rest of the tag, expressions and attribute lists are removed.
    """

    def kept_strings(match: re.Match) -> str:
        texts = []
        for literal in _STRING_LITERAL.findall(match.group(0)):
            lines = [line.strip() for line in literal.replace('\\"', '"').split("\n")]
            text = "\n".join(lines).strip()
            if len(_RAW_TAG.sub(" ", text).split()) >= 2:  # words, not a name or a path
                texts.append(text)
        return "".join(f"\n\n{text}\n\n" for text in texts)

    body = _TEMPLATE_TAG.sub(kept_strings, body)
    body = _TEMPLATE_EXPRESSION.sub("", body)
    return _ATTRIBUTE_LIST.sub("", body)


def markdown_blocks(body: str, title: str, detect_plain_headings: bool | None = None) -> tuple[list[Block], list[str]]:
    """Blocks of a Markdown body, each with its heading path; returns (blocks, warnings)."""
    body, warnings = close_unclosed(without_templating(_HTML_COMMENT.sub("", body)))
    tokens = _parser().parse(body)
    if detect_plain_headings is None:
        detect_plain_headings = not any(t.type == "heading_open" for t in tokens)
    blocks: list[Block] = []
    path: list[tuple[int, str]] = []
    figure_above = False  # the previous block was a figure: an italic paragraph is its caption

    def section() -> str:
        return SECTION_SEPARATOR.join(text for _, text in path) if path else title

    index = 0
    while index < len(tokens):
        token = tokens[index]
        kind = token.type
        if kind == "heading_open":
            level = int(token.tag[1])
            text = re.sub(r"\s*\{[^}]*\}\s*$", "", _inline_text(tokens[index + 1])[0])
            path = [(lvl, t) for lvl, t in path if lvl < level] + [(level, text)]
            figure_above = False
            index += 3
            continue
        if kind in ("bullet_list_open", "ordered_list_open"):
            items, index = _items(tokens, index)
            if items:
                blocks.append(Block(section=section(), role="list", items=items))
            figure_above = False
            continue
        if kind == "table_open":
            header, rows, index = _table(tokens, index)
            if rows:
                blocks.append(Block(section=section(), role="table", header=header, rows=rows))
            figure_above = False
            continue
        if kind.startswith("container_") and kind.endswith("_open"):
            label = _container_label(token.info)
            if label:
                blocks.append(Block(text=label, section=section(), role="label"))
        elif kind in ("fence", "code_block"):
            figure_above = bool(_FIGURE_CHUNK.match(token.info or ""))
        elif kind == "html_block":
            text = _html_text(token.content)
            if len(re.findall(r"[^\W\d_]", text)) >= 20:
                blocks.append(Block(text=text, section=section()))
        elif kind == "inline" and tokens[index - 1].type == "paragraph_open":
            plain, has_image, italic = _inline_text(token)
            if plain and not _only_link(token):
                caption = italic and (figure_above or has_image)
                blocks.append(Block(text=plain, section=section(), role="caption" if caption else "text"))
                figure_above = False
            elif has_image:
                figure_above = True
        index += 1
    if detect_plain_headings:
        blocks = _plain_headings(blocks, title)
    return blocks, warnings


def _plain_headings(blocks: list[Block], title: str) -> list[Block]:
    """In a text without Markdown headings, a short capitalised line before a long paragraph is a heading."""
    out: list[Block] = []
    section = title
    for index, block in enumerate(blocks):
        following = blocks[index + 1] if index + 1 < len(blocks) else None
        if block.role == "text" and looks_like_heading(block.text) and following is not None and len(following.plain_text()) >= 150:
            section = block.text
            continue
        block.section = section
        out.append(block)
    return out


def iter_headings(body: str) -> Iterator[str]:
    """The text of every heading, in order (the first gives a title-less file its title)."""
    tokens = _parser().parse(body)
    for index, token in enumerate(tokens):
        if token.type == "heading_open":
            yield _inline_text(tokens[index + 1])[0]
