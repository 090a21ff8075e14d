"""Text clean-up and French sentence splitting shared by loaders, chunker and answerers.

Why a module of its own: the same notion of "a sentence" must hold when chunks are cut, when
sentences are embedded at indexing time and when the extractive answerer quotes them; if these
disagreed, a quoted sentence could straddle two chunks and its citation would be wrong.
"""

from __future__ import annotations

import re
import unicodedata

from .patterns import SENTENCE_BOUNDARY

SOFT_HYPHEN = "\u00ad"

# A word cut by a hyphen at the end of a line, continued in lower case on the next one:
# "fonc-\ntionnement" -> "fonctionnement". Compound words whose second part starts with a
# capital ("Centre-\nVal") keep their hyphen.
_HYPHEN_BREAK = re.compile(r"(?<=[a-zà-ÿœæ])-\n[ \t]*(?=[a-zà-ÿœæ])")
_SPACES = re.compile(r"[ \t\f\v\u00a0\u2000-\u200b\u202f\u205f\u3000]+")
_MANY_NEWLINES = re.compile(r"\n{3,}")

# Abbreviations after which a full stop does not end a sentence.
_ABBREVIATIONS = {
    "m", "mm", "mme", "mmes", "mlle", "dr", "pr", "me", "st", "ste", "cf", "ex", "etc", "p", "pp",
    "n", "no", "vol", "chap", "fig", "art", "al", "av", "bd", "env", "hab", "nb", "vs", "janv",
    "févr", "sept", "oct", "nov", "déc", "mr", "mrs", "inc", "ltd", "cie", "éd", "dir", "coll",
}
# End punctuation, optional closing quotes/brackets, whitespace, then something that can open a
# sentence (ingest.patterns.SENTENCE_BOUNDARY). An em dash after a sentence introduces its
# attribution (« … » — Jeanne Martin), not a new one.
_SENTENCE_END = SENTENCE_BOUNDARY


def normalize(text: str) -> str:
    """Unicode NFKC, rejoined hyphenated words, single spaces, trimmed lines.

    NFKC turns ligatures ("ﬁ") and the many space characters of French typography (non-breaking
    and narrow non-breaking spaces before ":" or "%") into their plain forms, so that "21 %",
    "21\u202f%" and "21 %" are the same string for BM25, for embeddings and for the figure check.
    """
    # NFKC folds U+2011 (non-breaking hyphen) into U+2010; typeset PDFs use both for "-".
    text = unicodedata.normalize("NFKC", text).replace(SOFT_HYPHEN, "").replace("\u2010", "-")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _HYPHEN_BREAK.sub("", text)
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _MANY_NEWLINES.sub("\n\n", text).strip()


def collapse(text: str) -> str:
    """All whitespace (newlines included) folded into single spaces."""
    return " ".join(text.split())


def split_sentences(text: str) -> list[str]:
    """Split French prose into sentences.

    Line breaks inside a paragraph are treated as spaces; blank lines and bullets always end a
    sentence. A full stop after a known abbreviation ("M.", "cf.", "p.") or inside a number
    ("10.000") does not end a sentence.
    """
    sentences: list[str] = []
    for paragraph in re.split(r"\n\s*\n|\n(?=\s*(?:[•\-*–]|\d+[.)])\s)", text):
        paragraph = collapse(paragraph)
        if not paragraph:
            continue
        start = 0
        for match in _SENTENCE_END.finditer(paragraph):
            end = match.end(1)
            before = paragraph[start:match.start(1)]
            last_word = re.split(r"[\s(«\"']", before)[-1] if before else ""
            if match.group(1) == "." and last_word.lower() in _ABBREVIATIONS:
                continue
            if match.group(1) == "." and re.fullmatch(r"[A-ZÀ-Þ]", last_word):
                continue  # an initial: "J. Dupont"
            piece = paragraph[start:end].strip()
            if piece:
                sentences.append(piece)
            start = match.end()
        tail = paragraph[start:].strip()
        if tail:
            sentences.append(tail)
    return sentences


def looks_like_heading(line: str) -> bool:
    """A short line without final punctuation that starts with a capital: a plain-text heading."""
    line = line.strip()
    return (
        0 < len(line) <= 90
        and line[0].isupper()
        and not line.endswith((".", ",", ";", ":", "!", "?", "…"))
        and not re.fullmatch(r"[\d\s%,.+\-–]+", line)
    )
