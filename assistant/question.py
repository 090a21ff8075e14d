"""Question analysis: the first stage of an answer.

What the later stages need to know about a question, computed once: its language, its key
terms, the kind of answer it asks for, the years it names, whether it is an elliptic
follow-up of the previous turn, and its sub-questions when it asks several things. Every
pattern here is French or English grammar ("combien", "pourquoi", "what share of"), true of
any question about any document; none names a word of the indexed documents.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .lexical import detect_language, key_terms

# The kinds of answer a question can ask for. A unit "carries" a kind when its text holds one
# (see ``evidence.carries``).
ANSWER_KINDS = ("quantity", "percent", "money", "duration", "date", "who", "definition", "list", "reason")
# The kinds a unit visibly holds or not (a figure, a date, a name): a short compound part asking
# for one asks something of its own, and evidence selection reads whether a unit holds it.
DISTINCT_KINDS = frozenset({"quantity", "percent", "money", "duration", "date", "who"})

# « quand » and « qui » ask something only where a question word stands: at the start of the
# question or after a colon, after a coordination (« …, et quand est-il sorti ? ») or a
# preposition (« depuis quand », « par qui »), or right before the question mark (« c'est
# qui ? »). Elsewhere they are the conjunction « quand on rédige… » and the relative pronoun
# (« les collectivités qui ont… », « X, qui est cité… »), which ask for no date and no name;
# « quand » followed by a subject pronoun is the conjunction wherever it stands (a written
# question inverts: « quand est-il sorti ? »). French grammar, true of any question.
# English « when » and « who » likewise, at the start, after a colon or « and / or / but »
# (« since when », « until when » too), or before the question mark; elsewhere the conjunction
# (« when it comes to… ») or the relative pronoun (« authorities who have… », « the bodies with
# whom they share… »). English grammar, true of any question.
_FRENCH_LEADS = r"et|ou|mais|depuis|jusqu['’]à|à\s+partir\s+de|par|pour|avec|de|à|chez|envers|contre"
QUAND = r"quand(?!\s+(?:on|il|elle|ils|elles|je|j['’]|nous|vous|tu)\b)"


def _interrogative(word: str, leads: str = _FRENCH_LEADS) -> str:
    return rf"(?:(?:^\s*|:\s*|\b(?:{leads})\s+){word}\b|\b{word}\s*\?)"


_ASKS: dict[str, re.Pattern[str]] = {
    "percent": re.compile(
        r"\b(pourcentage|proportion|quelle\s+part|la\s+part|taux|pour\s*cent|percentage|share\s+of|what\s+share|proportion|fraction|rate)\b|%",
        re.IGNORECASE,
    ),
    # « quelle longueur / taille / … » asks for a measure as « combien » does: the interrogative
    # before a noun of measurement, French and English grammar.
    "quantity": re.compile(
        r"\b(combien|nombre|quantité|chiffre|effectif|how\s+many|how\s+much|number\s+of|amount|"
        r"quel(?:le)?s?\s+(?:longueur|taille|hauteur|largeur|profondeur|distance|surface|superficie|poids|volume|capacité|"
        r"limite|seuil|maximum|minimum)|(?:what|which)\s+(?:length|size|height|width|depth|distance|area|weight|volume|"
        r"capacity|limit|threshold|maximum|minimum)|how\s+(?:big|large))\b",
        re.IGNORECASE,
    ),
    "money": re.compile(
        r"\b(montant|coût\w*|coute\w*|coûte\w*|prix|budget\w*|amendes?|euros?|financ\w+|subventions?|tarif\w*|dépens\w+|"
        r"cost\w*|price\w*|fines?|spend\w*|funding)\b|€",
        re.IGNORECASE,
    ),
    "duration": re.compile(
        r"\b(combien\s+de\s+temps|durée|délai\w*|pendant\s+combien|en\s+combien\s+de|how\s+long|duration|deadline|delay|within\s+how)\b",
        re.IGNORECASE,
    ),
    "date": re.compile(
        rf"{_interrogative(QUAND)}|\b(quelle\s+date|à\s+quelle\s+(?:date|période|époque)|en\s+quelle\s+année|"
        r"quelle\s+année|what\s+date|which\s+date|what\s+year|which\s+year)\b|"
        + _interrogative("when", "and|or|but|since|until|till"),
        re.IGNORECASE,
    ),
    "who": re.compile(
        rf"{_interrogative('qui')}|{_interrogative('(?:who|whom)', 'and|or|but')}|\b(quel(?:le)?s?|which|what)\s+(organismes?|instituts?|entreprises?|sociétés?|acteurs?|partenaires?|"
        r"structures?|personnes?|auteurs?|éditeurs?|associations?|administrations?|services?|ministères?|opérateurs?|"
        r"organi[sz]ations?|compan(?:y|ies)|bod(?:y|ies)|agenc(?:y|ies)|institutions?)\b",
        re.IGNORECASE,
    ),
    "definition": re.compile(
        r"(qu['’]est[- ]ce\s+qu|que\s+(?:signifie|veut\s+dire|désigne|recouvre)|c['’]est\s+quoi|définition|définir|"
        r"entend(?:-on)?\s+par|what\s+(?:is|are)\s+(?:an?\s+)?[\w-]+\s*\??$|what\s+does\s+.+\s+(?:mean|stand\s+for)|define|definition)",
        re.IGNORECASE,
    ),
    "list": re.compile(
        # « quels/quelles » followed by a plural ("quelles précautions", "sur quels points") asks
        # for several things: French agreement, whatever the noun.
        r"\b(quel(?:le)?s\s+sont|quel(?:le)?s\s+(?:\w+\s+)?\w+[sx]|lister|énumérer|what\s+are|which\s+are|list\s+|what\s+steps|"
        r"principaux|principales|main)\b",
        re.IGNORECASE,
    ),
    "reason": re.compile(
        r"\b(pourquoi|pour\s+quelles?\s+raisons?|dans\s+quel\s+but|à\s+quoi\s+sert|quel\s+(?:est\s+l['’])?intérêt|why|for\s+what\s+reason|"
        r"what\s+for|purpose|comment|how\s+(?:do|does|can|should|to))\b",
        re.IGNORECASE,
    ),
}
_YEAR = re.compile(r"\b(19[5-9]\d|20\d\d)\b")
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
# A turn that only makes sense after the previous one: "Et les métropoles ?", "What about 2024?".
_FOLLOW_UP_START = re.compile(r"^(et|mais|and|what\s+about|how\s+about|même\s+question|idem|pareil|et\s+pour|et\s+du\s+côté)\b", re.IGNORECASE)


@dataclass
class Question:
    """A question as the answer stages see it."""

    text: str
    language: str
    terms: list[str]  # key stems of this turn
    asks: frozenset[str]  # kinds of answer asked (ANSWER_KINDS)
    years: list[int]
    previous: str | None = None  # the previous user question, when this one is a follow-up
    previous_answer: str | None = None  # what the assistant answered to it
    context_terms: list[str] = field(default_factory=list)  # key stems of the previous question
    parts: list[str] = field(default_factory=list)  # sub-questions of a compound question

    @property
    def is_follow_up(self) -> bool:
        return self.previous is not None

    @property
    def retrieval_query(self) -> str:
        """What retrieval embeds and matches: a follow-up reads with the question it follows."""
        return f"{self.previous} {self.text}" if self.previous else self.text


# « À quel rythme », « à quelle fréquence », « how often »: a frequency, answered by a period
# (« tous les mois », « chaque année ») or by a rate (« dans 40 % des cas », what a survey
# reports as how often something is done). French and English grammar, true of any question.
_FREQUENCY = re.compile(
    r"\b(?:à\s+quel(?:le)?\s+(?:rythme|fréquence|périodicité|intervalle)|tous\s+les\s+combien|how\s+often|how\s+frequently|"
    r"at\s+what\s+(?:frequency|interval|pace))\b",
    re.IGNORECASE,
)


def asked_kinds(text: str) -> frozenset[str]:
    kinds = {kind for kind, pattern in _ASKS.items() if pattern.search(text)}
    if _FREQUENCY.search(text):
        kinds |= {"duration", "percent"}
    if kinds & {"percent", "money", "duration"}:
        kinds.add("quantity")
    return frozenset(kinds)


def split_compound(question: str) -> list[str]:
    """The sub-questions of "quelle part X, et quelle part Y ?" (one part for a simple question).

    A part that names fewer than two things of its own details another one rather than asking
    something else ("Quelle part des communes a un DPO, et pour quelle part des répondants ?"):
    no split, unless it asks for a figure, a date or a name no other part asks for ("…, et
    quand est-il sorti ?" after a name; "Où … hébergent-elles leurs données, pour quelle part
    des répondants ?"). Kinds read from weaker cues (a plural, « comment ») do not count.
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
    names its subject: an acronym, a name, a year).
    """
    stripped = question.strip()
    if _FOLLOW_UP_START.match(stripped):
        return True
    names_subject = re.search(r"\b[A-Z]{2,}\b|\b(19|20)\d\d\b|(?<!^)(?<![.?!]\s)\b[A-ZÀ-Þ][a-zà-ÿ]{2,}", stripped)
    return len(key_terms(question)) <= 1 and not names_subject


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


def analyse(text: str, history: Any = None) -> Question:
    """Analyse ``text``, reading the conversation when it is a follow-up."""
    conversation = turns(history)
    previous = next((t["content"] for t in reversed(conversation) if t["role"] == "user"), None)
    if previous is None or not is_follow_up(text):
        previous = None
    previous_answer = next((t["content"] for t in reversed(conversation) if t["role"] == "assistant"), None) if previous else None
    terms = key_terms(text)
    years = [int(y) for y in _YEAR.findall(text)]
    if not years and previous and _PREVIOUS_YEAR.search(text):
        years = [int(y) - 1 for y in _YEAR.findall(previous)]
    asks = asked_kinds(text)
    if previous:
        if len(terms) <= 3:
            asks = asks | asked_kinds(previous)  # "Et les métropoles ?" asks what the previous turn asked
            years = years or [int(y) for y in _YEAR.findall(previous)]
    context_terms = [t for t in key_terms(previous) if t not in terms] if previous else []
    terms = [t for t in terms if not (t.isdigit() and int(float(t)) in years)]
    return Question(
        text=text,
        language=detect_language(text),
        terms=terms,
        asks=asks,
        years=years,
        previous=previous,
        previous_answer=previous_answer,
        context_terms=context_terms,
        parts=split_compound(text),
    )


def part_of(question: Question, index: int) -> Question:
    """Sub-question ``index`` of a compound question; later parts read with the first (pronouns)."""
    part = question.parts[index]
    analysed = analyse(part)
    if index > 0:
        analysed.previous = question.parts[0]
        analysed.context_terms = [t for t in key_terms(question.parts[0]) if t not in analysed.terms]
    elif question.previous:
        analysed.previous, analysed.previous_answer, analysed.context_terms = question.previous, question.previous_answer, question.context_terms
    analysed.years = analysed.years or question.years
    analysed.parts = [part]
    return analysed
