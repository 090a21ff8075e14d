"""Published web pages -> structural blocks, the same ones their Markdown source gives.

The main text is the page's ``<main>`` (or ``<article>``, or ``role="main"``) once navigation,
sidebars, footers, scripts and permalink anchors are removed; a page with none of these goes
through trafilatura's main-text extraction (its XML output keeps headings, lists, tables and
quotes). The DOM is then walked like a Markdown document: headings give the section path,
``<ul>/<ol>`` become list blocks, ``<table>`` a table with its header, a box whose first child is
a title (VuePress ``custom-block``, Quarto and MkDocs callouts, ``<details><summary>``) keeps its
body with the title as a label, blockquotes keep their text, and an italic paragraph is a
caption only under a figure.
"""

from __future__ import annotations

import re

from ..models import SECTION_SEPARATOR, Block
from ..text import collapse

# Class or id words that mark page furniture on any site (static site generators, CMSs):
# menus, sidebars, breadcrumbs, footers, "edit this page" and previous/next links.
_FURNITURE = re.compile(
    r"(^|[\s_-])(nav|navbar|navigation|menu|sidebar|breadcrumbs?|footer|cookies?|share|social|skip|"
    r"page-edit|page-nav|edit-link|toc|table-of-contents|search|banner|header-anchor|headerlink|anchor)($|[\s_-])",
    re.IGNORECASE,
)
_DROP_TAGS = {"script", "style", "noscript", "svg", "nav", "footer", "form", "button", "iframe", "template", "select", "input", "pre"}
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_PERMALINK = {"#", "¶", "🔗", "§"}


def _all_text(element) -> str:
    return "".join(element.itertext())


def _classes(element) -> str:
    return f"{element.get('class', '')} {element.get('id', '')} {element.get('role', '')}".strip()


def _is_furniture(element) -> bool:
    tag = element.tag if isinstance(element.tag, str) else ""
    if tag in _DROP_TAGS:
        return True
    if tag == "a" and collapse(_all_text(element)) in _PERMALINK:
        return True
    if tag == "header" and element.find(".//h1") is None:
        return True
    if tag == "aside" and not _title_child(element):
        return True
    return bool(_FURNITURE.search(_classes(element))) and tag not in ("main", "article", "body")


def _drop(element) -> None:
    """Remove an element, keeping the text that follows it (lxml's ``tail``)."""
    parent = element.getparent()
    if parent is None:
        return
    if element.tail:
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + element.tail
        else:
            parent.text = (parent.text or "") + element.tail
    parent.remove(element)


def _clean(root) -> None:
    for element in list(root.iter()):
        if element is root or element.getparent() is None:
            continue
        if not isinstance(element.tag, str) or _is_furniture(element):  # comments, furniture
            _drop(element)


def _text(element) -> str:
    """Inline text of an element (line breaks as spaces)."""
    for br in element.iter("br"):
        br.tail = " " + (br.tail or "")
    return collapse(_all_text(element))


def _title_child(element):
    """The first child that titles a box (class with "title", or a <summary>), if any."""
    children = [c for c in element if isinstance(c.tag, str)]
    if not children:
        return None
    first = children[0]
    if first.tag == "summary" or "title" in first.get("class", "").lower():
        return first
    return None


def _italic(element) -> bool:
    """A paragraph wholly set in italics."""
    text = _text(element)
    emphasised = " ".join(collapse(_all_text(e)) for e in element.iter("em", "i") if e.getparent() is not None)
    return bool(text) and len(emphasised.strip(" .,;:")) >= len(text.strip(" .,;:")) * 0.95


class _Walker:
    def __init__(self, title: str):
        self.title = title
        self.blocks: list[Block] = []
        self.path: list[tuple[int, str]] = []
        self.figure_above = False

    def section(self) -> str:
        return SECTION_SEPARATOR.join(t for _, t in self.path) if self.path else self.title

    def add(self, text: str, role: str = "text") -> None:
        if text:
            self.blocks.append(Block(text=text, section=self.section(), role=role))  # type: ignore[arg-type]

    def list_items(self, element) -> list[str]:
        items = []
        for li in element:
            if not isinstance(li.tag, str) or li.tag not in ("li", "item"):
                continue
            nested = [n for n in li if isinstance(n.tag, str) and n.tag in ("ul", "ol", "list")]
            for n in nested:
                _drop(n)
            text = _text(li)
            sub = [i for n in nested for i in self.list_items(n)]
            if sub:
                text = f"{text.rstrip(' :')} : {' ; '.join(sub)}" if text else " ; ".join(sub)
            if text:
                items.append(text)
        return items

    def table(self, element) -> None:
        header: list[str] = []
        rows: list[list[str]] = []
        for tr in element.iter("tr", "row"):
            cells = [c for c in tr if isinstance(c.tag, str) and c.tag in ("td", "th", "cell")]
            values = [_text(c) for c in cells]
            is_head = all(c.tag == "th" or c.get("role") == "head" for c in cells) and cells
            if is_head and not header and not rows:
                header = values
            elif any(values):
                rows.append(values)
        if rows:
            self.blocks.append(Block(section=self.section(), role="table", header=header, rows=rows))

    def walk(self, element) -> None:
        for child in element:
            if not isinstance(child.tag, str):
                continue
            tag = child.tag
            if tag in _HEADINGS or (tag == "head" and child.get("rend", "h2") in _HEADINGS):
                level = _HEADINGS[tag] if tag in _HEADINGS else _HEADINGS[child.get("rend", "h2")]
                text = _text(child)
                if text:
                    self.path = [(lvl, t) for lvl, t in self.path if lvl < level] + [(level, text)]
                self.figure_above = False
            elif tag in ("ul", "ol", "list"):
                items = self.list_items(child)
                if items:
                    self.blocks.append(Block(section=self.section(), role="list", items=items))
                self.figure_above = False
            elif tag == "a":
                continue  # a link standing alone between blocks (« Back to top », « Suivant ») is navigation
            elif tag == "dl":
                terms = [_text(e) for e in child if isinstance(e.tag, str) and e.tag in ("dt", "dd")]
                pairs = [f"{terms[i]} : {terms[i + 1]}" for i in range(0, len(terms) - 1, 2)]
                if pairs:
                    self.blocks.append(Block(section=self.section(), role="list", items=pairs))
            elif tag == "table":
                self.table(child)
                self.figure_above = False
            elif tag in ("img", "picture", "graphic", "canvas"):
                self.figure_above = True
            elif tag == "figure":
                caption = child.find(".//figcaption")
                if caption is not None:
                    self.add(_text(caption), "caption")
                self.figure_above = caption is None
            elif tag in ("p", "quote") or (tag == "blockquote" and not any(isinstance(c.tag, str) for c in child)):
                if child.find(".//img") is not None and not _text(child):
                    self.figure_above = True
                    continue
                text = _text(child)
                links = child.findall(".//a")
                if links and collapse(" ".join(_text(a) for a in links)) == text.strip(" .➡️→"):
                    continue  # a paragraph that is only a link: navigation
                self.add(text, "caption" if self.figure_above and _italic(child) else "text")
                self.figure_above = False
            else:
                title = _title_child(child)
                if title is not None:
                    self.add(_text(title), "label")
                    _drop(title)
                self._loose_text(child)
                self.walk(child)

    def _loose_text(self, element) -> None:
        """Text written straight inside a container (``<div>Texte <b>gras</b></div>``)."""
        inline = {"a", "b", "strong", "em", "i", "span", "code", "abbr", "sup", "sub", "small", "mark", "u", "br", "hi", "ref"}
        if element.text and element.text.strip() and all(isinstance(c.tag, str) and c.tag in inline for c in element):
            self.add(_text(element))
            for c in list(element):
                _drop(c)
            element.text = None


def _main_root(document):
    for xpath in ("//main", "//article", "//*[@role='main']"):
        found = document.xpath(xpath)
        if found:
            return max(found, key=lambda e: len(_all_text(e)))
    return None


def html_blocks(html: str, title: str, fragment: bool = False) -> list[Block]:
    """Blocks of a web page's main text (empty when the page has none).

    ``fragment``: the file is a static site's page source (it opened with a YAML front matter):
    the site's layout adds the menus and footers when it publishes the page, so the source holds
    only the page's own content, and trafilatura, made to find an article among a site's
    furniture, would cut its boxes and headings as boilerplate.
    """
    import lxml.html

    try:
        document = lxml.html.fromstring(html)
    except Exception:  # noqa: BLE001 - lxml raises several kinds on broken markup
        return []
    root = _main_root(document)
    if root is None and not fragment:
        root = _trafilatura_root(html)
    if root is None:
        # A page fragment (a static site's page source) has no <main> and too little
        # boilerplate for trafilatura to recognise: its body, furniture removed, is the text.
        body = document.find(".//body")
        root = body if body is not None else document
    if not collapse(_all_text(root)):
        return []
    _clean(root)
    walker = _Walker(title)
    walker.walk(root)
    return walker.blocks


def _trafilatura_root(html: str):
    """The main text as trafilatura's XML (headings, lists, tables, quotes kept), for pages without <main>."""
    import lxml.etree
    import trafilatura

    extracted = trafilatura.extract(html, output_format="xml", include_comments=False, include_tables=True, favor_recall=True)
    if not extracted:
        return None
    try:
        tree = lxml.etree.fromstring(extracted.encode())
    except lxml.etree.XMLSyntaxError:
        return None
    main = tree.find(".//main")
    return main if main is not None else tree
