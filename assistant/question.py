"""Question analysis: the first stage of an answer.

What the later stages need to know about a question, computed once: its language, its key
terms, the kinds of answer it asks for (``answer_kinds``), the years it names, whether it asks
for an overview, its sub-questions when it asks several things, and, for an elliptic follow-up
(« Et les métropoles ? »), the question it stands for once read with the conversation
(« Quelle part des collectivités a déjà eu recours à l'IA, pour les métropoles ? »): retrieval,
the reader and the checks all work on that rewritten question, and the answer shows it.
Every pattern here is French or English grammar, true of any question about any document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from ingest.patterns import NAMED_WORD, YEAR, years_in

from .answer_kinds import DISTINCT_KINDS, QUAND, QUESTION_WORD, asked_kinds
from .lexical import detect_language, key_terms

# "l'année d'avant", "the previous year": a year relative to the previous turn's.
_PREVIOUS_YEAR = re.compile(
    r"l['’]année\s+(?:d['’]avant|précédente|dernière)|l['’]an\s+dernier|l['’]édition\s+(?:d['’]avant|précédente)|"
    r"(?:the\s+)?(?:previous|prior|last)\s+(?:year|edition)|the\s+year\s+before",
    re.IGNORECASE,
)
# "…, et quelle part…", "… and how many…", or a second sentence: several questions in one.
_COMPOUND = re.compile(
    r"(?:,\s*|\s+)(?:et|puis|ainsi que)\s+(?=(?:quel(?:le)?s?|combien|qu['’e]|" + QUAND + r"|où|comment|pourquoi|dans\s+quel(?:le)?s?|"
    r"à\s+quel(?:le)?s?|sur\s+quel(?:le)?s?|pour\s+quel(?:le)?s?|avec\s+quel(?:le)?s?|en\s+quelle)\b)|"
    r"(?:,\s*|\s+)and\s+(?=(?:what|how|which|who|where|when|why)\b)|(?<=\?)\s+(?=[A-ZÀ-Þ])",
    re.IGNORECASE,
)
# A turn that only makes sense after the previous one: its opening (« Et les métropoles ? »,
# « Et pour 2022 ? », « What about the regions? »), stripped to leave its qualifier.
_FOLLOW_UP_LEAD = re.compile(
    r"^\s*(?:et\s+(?:du\s+côté\s+(?:de\s+la|de\s+l['’]|des|du|de)|pour\s+ce\s+qui\s+est\s+(?:de\s+la|de\s+l['’]|des|du|de)|"
    r"concernant|s['’]agissant\s+(?:de\s+la|de\s+l['’]|des|du|de)|quid\s+(?:de\s+la|de\s+l['’]|des|du|de))?|mais|"
    r"and|what\s+about|how\s+about|même\s+question\s+(?:pour|sur|avec)?|idem\s+(?:pour)?|pareil\s+(?:pour)?|quid\s+(?:de\s+la|de\s+l['’]|des|du|de))\b\s*",
    re.IGNORECASE,
)
# A qualifier that already says how it relates to the question (« pour les métropoles », « parmi
# les EPCI », « en 2022 »): kept as written; a bare noun phrase gets « pour » / « for ».
# French and English prepositions that open a qualifier or a phrase of a question.
_PREPOSITIONS = (
    r"pour|parmi|chez|dans|en|à|au|aux|sur|selon|entre|avant|après|contre|avec|sans|par|"
    r"for|among|in|at|on|by|during|against|with|without"
)
_PREPOSITION = re.compile(rf"^(?:{_PREPOSITIONS})\b", re.IGNORECASE)
# What opens a noun phrase in French or English: articles, demonstratives, quantifiers.
_DETERMINER = r"(?:les|le|la|l['’]|une|un|des|du|d['’]|ces|cette|cet|ce|chaque|tous\s+les|toutes\s+les|the|an|a|any|each|every|these|those|this|that)"
# A qualifier of the same form as a phrase of the previous question (same preposition, then a
# noun phrase) takes its place: « Et pour un gros projet ? » after « Pour un petit projet,
# combien… ? » asks « Pour un gros projet, combien… ? », not both at once. The phrase ends at a
# punctuation mark, another preposition, a complement with its own article (« d'un rapport »)
# or the end: where a French or English prepositional phrase ends. Only a qualifier that says its
# preposition replaces: a bare « Et les régions ? » may stand for the subject as well.
_PHRASE_END = rf"(?=\s*(?:[,;:?!.]|$)|\s+d(?:e\s+la|e\s+l['’]|['’]une?|e\s+cette|e\s+ce)\b|\s+(?:{_PREPOSITIONS})\b)"
_PREPOSITIONAL = re.compile(rf"^({_PREPOSITIONS})\s+{_DETERMINER}(?:\s+|(?<=['’]))", re.IGNORECASE)
# Ordinal words (« la sixième », « the third »): a follow-up naming another rank replaces the
# previous question's rank. French ordinals end in -ième; English ones are few.
_ORDINAL = re.compile(
    r"\b(?:premi(?:er|ère)s?|secondes?|second|derni(?:er|ère)s?|\w+ièmes?|first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|last|\d+(?:e|ème|er|ère|st|nd|rd|th))\b",
    re.IGNORECASE,
)
# A qualifier that is a clause (« si le projet… », « quand… », « if… ») or a sentence with its own
# subject (« elle s'applique quand ? »): read after the previous question, never prefixed.
_CLAUSE = re.compile(r"^(?:si|s['’]ils?|quand|lorsqu['’]?\w*|if|when|unless|once)\b", re.IGNORECASE)
# Subject pronouns by the conversation's language: « on » is a French pronoun but an English
# preposition ("And on weekends?" qualifies the previous question, « Et on fait comment ? » asks
# its own thing).
_SUBJECT = {
    "fr": re.compile(r"^(?:il|elle|ils|elles|on|c['’]est|cela|ça)\b", re.IGNORECASE),
    "en": re.compile(r"^(?:it|they|there)\b", re.IGNORECASE),
}
# A question word opening a question of its own (« qu'est-ce que », « combien », « how », « do »).
_INTERROGATIVE = re.compile(rf"^{QUESTION_WORD}", re.IGNORECASE)
# Asking for an overview of a document: « résume », « chiffres clés », « de quoi parle… »,
# « points principaux », « summarise », « key figures », « what is … about ». French and English
# ways of asking for the gist rather than one fact.
_OVERVIEW = re.compile(
    r"\b(?:résum\w*|synthès\w*|synthétis\w*|chiffres?[- ]clés?|principaux\s+(?:chiffres|enseignements|points|messages|résultats|constats)|"
    r"points?\s+(?:clés?|principaux|essentiels)|principales?\s+(?:conclusions|idées|informations)|l['’]essentiel|en\s+bref|"
    r"de\s+quoi\s+(?:\w+\s+){0,3}?(?:parle|traite|s['’]agit)|que\s+(?:dit|contient|raconte)\s+(?:ce|cette|le|la|l['’])|"
    r"qu['’](?:y\s+a-t-il|est-ce\s+qu['’]il\s+y\s+a)\s+dans|grandes\s+lignes|grands\s+axes|"
    r"summar\w*|key\s+(?:figures|points|findings|takeaways|messages)|main\s+(?:points|findings|takeaways|messages|ideas)|"
    r"what(?:['’]s|\s+is|\s+are)\s+(?:this|that|these|the)\s+(?:\w+\s+){0,6}?about\b|in\s+a\s+nutshell|gist|overview|tl;?dr)\b",
    re.IGNORECASE,
)


@dataclass
class Question:
    """A question as the answer stages see it.

    ``text`` is what the user typed; ``asked`` what it asks once read with the conversation
    (the same text unless it is an elliptic follow-up). Retrieval, selection and the checks read
    ``asked``; ``own_terms`` are the terms the user typed this turn (a follow-up's qualifier):
    an answer must speak of them, not only of the previous turn's subject.
    """

    text: str
    language: str
    terms: list[str]  # key stems of ``asked``
    asks: frozenset[str]  # kinds of answer asked (answer_kinds.ANSWER_KINDS)
    years: list[int]
    asked: str = ""
    own_terms: list[str] = field(default_factory=list)
    previous: str | None = None  # the previous user question, when this one is a follow-up
    previous_answer: str | None = None  # what the assistant answered to it
    parts: list[str] = field(default_factory=list)  # sub-questions of a compound question
    overview: bool = False  # asks for the gist of a document, not one fact

    def __post_init__(self) -> None:
        self.asked = self.asked or self.text
        self.own_terms = self.own_terms or list(self.terms)

    @property
    def is_follow_up(self) -> bool:
        return self.previous is not None

    @property
    def rewritten(self) -> bool:
        return self.asked != self.text


def split_compound(question: str) -> list[str]:
    """The sub-questions of "quelle part X, et quelle part Y ?" (one part for a simple question).

    A part that names fewer than two things of its own details another one rather than asking
    something else ("…, et pour quelle part des répondants ?"): no split, unless it asks for a
    figure, a date or a name no other part asks for ("…, et quand est-il sorti ?").
    """
    parts = [p.strip(" ,;") for p in _COMPOUND.split(question) if p and len(p.strip(" ,;?")) > 8]
    if len(parts) < 2:
        return [question]
    for index, part in enumerate(parts):
        others = frozenset().union(*(asked_kinds(p) for i, p in enumerate(parts) if i != index))
        if len(key_terms(part)) < 2 and not (asked_kinds(part) - others) & DISTINCT_KINDS:
            return [question]
    return parts


def is_follow_up(question: str) -> bool:
    """An elliptic question that only makes sense with the previous turn.

    « Et les métropoles ? » is one; « Qu'est-ce qu'un CSIRT ? » is short but stands alone (it
    names its subject). A question opening with « Et », « Mais », « What about » leans on the
    previous one; so does one with at most one term and no name, acronym or year.
    """
    stripped = question.strip()
    lead = _FOLLOW_UP_LEAD.match(stripped)
    rest = stripped[lead.end():] if lead and lead.end() > 0 else stripped
    names_subject = bool(NAMED_WORD.search(rest))  # a name, an acronym, a number (a year)
    own_question = bool(_INTERROGATIVE.match(rest))
    if lead and lead.end() > 0:
        # « Et les métropoles ? », « Et pourquoi ? »; not « Et qu'est-ce qu'un CSIRT ? », a
        # question of its own that names its subject
        return not (own_question and (names_subject or len(key_terms(rest)) >= 2))
    return len(key_terms(question)) <= 1 and not names_subject


def rewrite_follow_up(question: str, previous: str) -> str:
    """The question an elliptic follow-up stands for: the previous question, carried over to the
    new qualifier.

    « Et en 2022 ? » after « Quelle part … en 2023 ? » replaces the year; « Et les métropoles ? »
    keeps the previous question's subject and measure and adds the qualifier (« …, pour les
    métropoles ? »); a follow-up that asks its own thing (« Et combien en ont un ? ») is read
    after the previous question. French and English syntax, whatever the subject.
    """
    lead = _FOLLOW_UP_LEAD.match(question)
    qualifier = question[lead.end():] if lead else question
    qualifier = qualifier.strip().rstrip(" ?!.").strip()
    base = previous.strip().rstrip(" ?!.").strip()
    if not qualifier:
        return previous
    new_years = years_in(qualifier)
    if _PREVIOUS_YEAR.search(qualifier) and years_in(previous):
        new_years = [y - 1 for y in years_in(previous)]
        qualifier = _PREVIOUS_YEAR.sub("", qualifier).strip(" ,")
    if new_years and years_in(base):
        # a new year replaces the previous one(s); what else the qualifier says is added
        base = YEAR.sub(lambda m: str(new_years[0]), base)
        rest = re.sub(r"^(?:en|in|pour|for)?\s*" + YEAR.pattern + r"\s*", "", qualifier, flags=re.IGNORECASE).strip(" ,")
        qualifier = rest
        if not qualifier:
            return f"{base} ?"
    english = detect_language(previous) == "en"
    subject = _SUBJECT["en" if english else "fr"]
    # a topic set before a comma, then a sentence of its own (« Et la transcription, elle
    # concerne quels contenus ? »): French and English dislocation
    _, comma, after = qualifier.partition(", ")
    if _INTERROGATIVE.match(qualifier) or subject.match(qualifier) or (comma and (subject.match(after) or _INTERROGATIVE.match(after))):
        return f"{base} ? {qualifier[0].upper()}{qualifier[1:]} ?"  # a question of its own, read after the previous one
    substituted = _substituted(base, qualifier)
    if substituted:
        return f"{substituted} ?"
    if _CLAUSE.match(qualifier):
        return f"{base}, {qualifier} ?"
    if not _PREPOSITION.match(qualifier):
        qualifier = f"{'for' if english else 'pour'} {qualifier}"
    return f"{base}, {qualifier} ?"


def _substituted(base: str, qualifier: str) -> str | None:
    """The previous question with the qualifier in place of the phrase it stands for, or None.

    - A qualifier opening like a phrase of the previous question (same preposition, then a
      determiner) replaces the last such phrase: « pour les bâtiments » after « … mis en avant
      pour les adresses ».
    - A qualifier naming a rank (« la sixième ») replaces the previous question's rank word.
    """
    opening = _PREPOSITIONAL.match(qualifier)
    if opening:
        preposition = opening.group(1)
        phrase = re.compile(r"\b" + re.escape(preposition) + r"\s+" + _DETERMINER + r"(?:\s+|(?<=['’])).*?" + _PHRASE_END, re.IGNORECASE)
        found = [m for m in phrase.finditer(base) if m.end() > m.start() + len(preposition) + 2]
        if found:
            last = found[-1]
            replacement = qualifier[0].upper() + qualifier[1:] if last.start() == 0 else qualifier
            return base[: last.start()] + replacement + base[last.end():]
    ranks = _ORDINAL.findall(qualifier)
    if ranks and len(key_terms(qualifier)) <= 2:
        previous_ranks = list(_ORDINAL.finditer(base))
        if previous_ranks:
            last = previous_ranks[-1]
            return base[: last.start()] + ranks[0] + base[last.end():]
    return None


def turns(history: Any) -> list[dict[str, str]]:
    """History as role/content dicts (plain strings are earlier user questions)."""
    result: list[dict[str, str]] = []
    for item in history or []:
        if isinstance(item, str):
            result.append({"role": "user", "content": item})
        elif isinstance(item, dict) and item.get("content"):
            result.append({"role": str(item.get("role", "user")), "content": str(item["content"])})
        elif isinstance(item, (list, tuple)) and len(item) == 2:  # (question, answer) pairs
            result.append({"role": "user", "content": str(item[0])})
            if item[1]:
                result.append({"role": "assistant", "content": str(item[1])})
    return result


def _standalone_previous(conversation: list[dict[str, str]]) -> tuple[str | None, str | None]:
    """The previous user question as it stands alone (itself rewritten when it was a follow-up
    too: « Et les communes ? » then « Et les régions ? »), and the answer it got."""
    users = [i for i, t in enumerate(conversation) if t["role"] == "user"]
    if not users:
        return None, None
    standalone: str | None = None
    for index in users:
        text = conversation[index]["content"]
        standalone = rewrite_follow_up(text, standalone) if standalone and is_follow_up(text) else text
    last = users[-1]
    answer = next((t["content"] for t in conversation[last + 1 :] if t["role"] == "assistant"), None)
    return standalone, answer


def analyse(text: str, history: Any = None) -> Question:
    """Analyse ``text``, reading the conversation when it is an elliptic follow-up."""
    previous, previous_answer = _standalone_previous(turns(history))
    if previous is None or not is_follow_up(text):
        previous = previous_answer = None
    asked = rewrite_follow_up(text, previous) if previous else text
    own = key_terms(text)
    years = years_in(asked)
    terms = key_terms(asked)
    terms = [t for t in terms if not (t.isdigit() and int(float(t)) in years)]
    return Question(
        text=text,
        language=detect_language(text),
        terms=terms,
        asks=asked_kinds(asked),
        years=years,
        asked=asked,
        own_terms=[t for t in own if not (t.isdigit() and int(float(t)) in years)] or terms,
        previous=previous,
        previous_answer=previous_answer,
        parts=split_compound(asked),
        overview=bool(_OVERVIEW.search(text)),
    )


def part_of(question: Question, index: int) -> Question:
    """Sub-question ``index`` of a compound question; later parts read with the first (pronouns)."""
    part = question.parts[index]
    analysed = analyse(part)
    if index > 0:
        # a later part is read with the first one (« … et quand est-il sorti ? »): its terms are
        # its own, the first part's name what it is about
        analysed = replace(analysed, terms=list(dict.fromkeys(analysed.terms + key_terms(question.parts[0]))), own_terms=analysed.terms or analysed.own_terms)
    return replace(analysed, years=analysed.years or question.years, parts=[part], language=question.language,
                   previous=question.previous, previous_answer=question.previous_answer)
