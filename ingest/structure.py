"""Blocks -> units: what an answer can quote, whatever format the document came in.

Loaders (PDF, Markdown, HTML, text) produce structural blocks; this module holds the rules
that make the same chapter give the same units from each format:

- ``tidy`` keeps a list or a table attached to the sentence that introduces it (a sentence
  ending with a colon, in French as in English typography, announces what follows), carries
  that lead-in over to the continuation of a list cut by a page break, and rejoins "key
  figure" call-outs that layouts split from what they count;
- ``units_of`` turns a block into units: sentences of a paragraph, a list with its lead-in (cut
  into parts that each repeat the lead-in when it is long), a table row with its column
  headers, a caption or a label (kept as context, never quoted).
"""

from __future__ import annotations

import re
from dataclasses import replace

from .models import Block, UnitKind
from .patterns import announces, ends_sentence
from .text import collapse, split_sentences

# A list part longer than this is split between items (each part repeats the lead-in): a
# reader gets the items that answer, not a page of them.
LIST_PART_CHARS = 420

# A block that is only a figure ("17 %", "+12 pts", "3 500"): the figure of a call-out, whose
# caption is the next block.
FIGURE_ONLY = re.compile(r"^[+\-–]?\s?\d[\d\s.,]*\s?(%|pts?|points?|M€|Md€|k€|€|x)?$")
def _ended(text: str) -> bool:
    """A block that ends a sentence, announces what follows or closes a list item: the next
    block starts something of its own."""
    return ends_sentence(text) or announces(text) or text.rstrip().endswith(";")


def _lead_in_split(text: str) -> tuple[str, str]:
    """(text before, last sentence) when the paragraph's last sentence announces a list (ends with ':')."""
    sentences = split_sentences(text)
    if not sentences or not sentences[-1].rstrip().endswith(":"):
        return text, ""
    return " ".join(sentences[:-1]), sentences[-1]


def tidy(blocks: list[Block]) -> list[Block]:
    """Attach lead-ins to their list or table, continue lists across pages, rejoin call-outs."""
    out: list[Block] = []
    for block in blocks:
        if block.role in ("list", "table") and not block.text and out:
            previous = out[-1]
            if previous.role == "text" and previous.section == block.section:
                before, lead_in = _lead_in_split(previous.text)
                if lead_in:
                    block = replace(block, text=lead_in)
                    if before:
                        previous.text = before
                    else:
                        out.pop()
            elif block.role == "list" and previous.role == "list" and previous.section == block.section and previous.items and announces(previous.items[-1]):
                # A list item that announces (« … contenant les informations suivantes : ») and
                # a list right after it: the nested list a loader left flat. The item is that
                # list's lead-in, so each of its parts says what its items are.
                block = replace(block, text=previous.items[-1])
            elif (
                block.role == "list"
                and previous.role == "list"
                and previous.section == block.section
                and previous.page is not None
                and block.page == previous.page + 1
            ):
                block = replace(block, text=previous.text)  # the list goes on after a page break
        out.append(block)
    return _merge_callouts([b for b in out if b.text.strip() or b.items or b.rows])


def _merge_callouts(blocks: list[Block]) -> list[Block]:
    """Rejoin "key figure" call-outs that pages split into separate lines.

    Press pages and designed reports print "17%" / "des collectivités" / "ont déjà été
    victimes …" as separate paragraphs; a block that is only a figure, or that starts in lower
    case after a block with no final punctuation, continues the previous one. Otherwise the
    figure would be cut from what it counts and no sentence would say "17 % des collectivités…".
    """
    merged: list[Block] = []
    for block in blocks:
        previous = merged[-1] if merged else None
        continues = (
            previous is not None
            and previous.section == block.section
            and previous.page == block.page
            and previous.role == block.role == "text"
            and (
                FIGURE_ONLY.match(previous.text)
                or (block.text[:1].islower() and not _ended(previous.text))
            )
        )
        if continues and previous is not None:
            previous.text = f"{previous.text} {block.text}"
        else:
            merged.append(block)
    for block in merged:
        if block.role == "text" and FIGURE_ONLY.match(block.text.split(" ")[0]) and not _ended(block.text):
            block.text += "."
    return merged


def _item_text(item: str, last: bool) -> str:
    item = collapse(item).rstrip(" ;,")
    if last and item and not item.endswith((".", "!", "?", "…", ":")):  # « … suivantes : » still announces
        item += "."
    return item


def list_units(lead_in: str, items: list[str], limit: int = LIST_PART_CHARS) -> list[str]:
    """« Lead-in : item ; item ; item. », cut between items into parts that repeat the lead-in."""
    lead_in = collapse(lead_in)
    items = [collapse(i) for i in items if collapse(i)]
    if not items:
        return [lead_in] if lead_in else []
    parts: list[list[str]] = [[]]
    size = len(lead_in)
    for item in items:
        if parts[-1] and size + len(item) + 3 > limit:
            parts.append([])
            size = len(lead_in)
        parts[-1].append(item)
        size += len(item) + 3
    texts = []
    for group in parts:
        body = " ; ".join(_item_text(item, i == len(group) - 1) for i, item in enumerate(group))
        texts.append(f"{lead_in} {body}" if lead_in else body)
    return texts


def row_text(header: list[str], row: list[str]) -> str:
    """« Header 1 : value 1 ; Header 2 : value 2 » (empty cells left out)."""
    cells = []
    for index, value in enumerate(row):
        value = collapse(value)
        if not value:
            continue
        name = collapse(header[index]) if index < len(header) else ""
        cells.append(f"{name} : {value}" if name and name != value else value)
    return " ; ".join(cells)


def units_of(block: Block) -> list[tuple[str, UnitKind]]:
    """The units of one block, in reading order."""
    match block.role:
        case "text":
            return [(s, "sentence") for s in split_sentences(block.text)]
        case "caption":
            return [(s, "caption") for s in split_sentences(block.text)]
        case "label":
            return [(collapse(block.text), "label")] if collapse(block.text) else []
        case "list":
            return [(text, "list") for text in list_units(block.text, block.items)]
        case "table":
            units: list[tuple[str, UnitKind]] = [(s, "sentence") for s in split_sentences(block.text)]
            units += [(text, "row") for row in block.rows if (text := row_text(block.header, row))]
            return units
    return []
