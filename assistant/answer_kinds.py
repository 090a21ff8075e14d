"""Kinds of answer: what a question asks for, and whether a text holds it.

Both sides of one fact live here: « combien » asks for a quantity, and « 44 % », « deux
tiers » or « plusieurs centaines » hold one. Every pattern is French or English grammar and
typography (question words, numerals, units, calendar words), true of any question about any
document; none names a word of the indexed documents.
"""

from __future__ import annotations

import re

from ingest.patterns import YEAR, has_name, is_year

from .figures import find_figures

# The kinds of answer a question can ask for.
ANSWER_KINDS = ("quantity", "percent", "money", "duration", "date", "who", "definition", "list", "reason")
# Kinds a unit visibly holds or not (a figure, a date, a name).
DISTINCT_KINDS = frozenset({"quantity", "percent", "money", "duration", "date", "who"})
# Kinds whose presence is read reliably from digits, number words, units and calendar words: a
# question asking for one is not answered by a text holding none.
MEASURED = frozenset({"quantity", "percent", "money", "duration", "date"})

# -- what a question asks ------------------------------------------------------------------------

# « quand » and « qui » ask something only where a question word stands: at the start or after a
# colon, after a coordination or a preposition (« …, et quand est-il sorti ? », « par qui »), or
# right before the question mark. Elsewhere they are the conjunction (« quand on rédige… ») and
# the relative pronoun (« les collectivités qui ont… »). « quand » before a subject pronoun is the
# conjunction wherever it stands (a written question inverts: « quand est-il sorti ? »). English
# « when » / « who » likewise. French and English grammar.
_FRENCH_LEADS = r"et|ou|mais|depuis|jusqu['’]à|à\s+partir\s+de|par|pour|avec|de|à|chez|envers|contre"
# A word that opens a question of its own, French and English: an interrogative, « est-ce », or
# the auxiliary of an English yes/no question (« do they pay? »).
QUESTION_WORD = (
    r"(?:qu\w*|combien|comment|pourquoi|où|quand|lequel|laquelle|lesquel\w*|est-ce|how|what|which|who|whom|whose|why|where|when|"
    r"do|does|did|is|are|was|were|can|could|should|must|will|would|has|have)\b"
)
# A « quand » / « when » clause followed, after a comma, by a question word of its own (« Quand un
# habitant déménage, quels organismes… ? », "When a contract ends, in what forms…?") is the
# condition of that question, not the question.
_CLAUSE_THEN_QUESTION = rf"(?![^?]*,\s*(?:(?:in|on|at|for|to|by|with|dans|pour|par|sur|à|de|en)\s+)?{QUESTION_WORD})"
QUAND = r"quand(?!\s+(?:on|il|elle|ils|elles|je|j['’]|nous|vous|tu)\b)" + _CLAUSE_THEN_QUESTION


def _interrogative(word: str, leads: str = _FRENCH_LEADS) -> str:
    return rf"(?:(?:^\s*|:\s*|\b(?:{leads})\s+){word}\b|\b{word}\s*\?)"


_ASKS: dict[str, re.Pattern[str]] = {
    "percent": re.compile(
        r"\b(pourcentage|proportion|quelle\s+part|la\s+part|taux|pour\s*cent|percentage|share\s+of|what\s+share|fraction|rate)\b|%",
        re.IGNORECASE,
    ),
    # The interrogative before a noun of measurement asks for a measure as « combien » does
    # (« quelle taille », « quelle est la taille », "what is the size"): French and English
    # nouns of measure, any subject.
    "quantity": re.compile(
        r"\b(combien|nombres?|quantités?|chiffres?|effectifs?|how\s+many|how\s+much|number\s+of|amount|"
        r"quel(?:le)?s?\s+(?:(?:est|sont|serait)\s+(?:la|le|les|l['’])\s*)?(?:longueur|taille|hauteur|largeur|profondeur|distance|"
        r"surface|superficie|poids|volume|capacité|limite|seuil|plafond|maximum|minimum)|"
        r"(?:what|which)\s+(?:(?:is|are)\s+the\s+)?(?:length|size|height|width|depth|distance|area|weight|volume|"
        r"capacity|limit|threshold|ceiling|maximum|minimum)|how\s+(?:big|large))\b",
        re.IGNORECASE,
    ),
    # A sum of money asked for: an interrogative before a noun or verb of price (« combien
    # coûte », « quel montant », « how much does it cost »), or the currency itself. A noun of
    # money alone asks nothing (« budget officers », « le budget de la ville a-t-il… »).
    "money": re.compile(
        r"\b(?:combien\s+(?:co[uû]t\w*|d['’]euros|de\s+dollars|faut-il\s+(?:payer|prévoir|débourser))|"
        r"quel(?:le)?s?\s+(?:est\s+le\s+|sont\s+les\s+|serait\s+le\s+)?(?:montants?|co[uû]ts?|prix|budgets?|tarifs?|sommes?|dépenses?|"
        r"enveloppes?|financements?)|how\s+much\s+(?:money|funding|does|did|do|will|would|is|are|was|were)|"
        r"what\s+(?:is|was|are|were)\s+the\s+(?:cost|price|budget|amount|funding)s?)\b|€|\beuros?\b|\bdollars?\b",
        re.IGNORECASE,
    ),
    "duration": re.compile(
        # « en combien de jours » asks a duration, « en combien de parties » a count: the unit
        # of time decides (French time units)
        r"\b(combien\s+de\s+temps|durée|délai\w*|pendant\s+combien|"
        r"combien\s+d(?:e\s+|['’])(?:temps|secondes|minutes|heures|jours|semaines|mois|ans|années|trimestres|semestres)|"
        r"how\s+long|duration|deadline|within\s+how)\b",
        re.IGNORECASE,
    ),
    "date": re.compile(
        rf"{_interrogative(QUAND)}|\b(quelle\s+date|à\s+quelle\s+(?:date|période|époque)|en\s+quelle\s+année|"
        r"quelle\s+année|what\s+date|which\s+date|what\s+year|which\s+year)\b|" + _interrogative("when" + _CLAUSE_THEN_QUESTION, "and|or|but|since|until|till"),
        re.IGNORECASE,
    ),
    # « qui », or « quel » before a noun that names an agent (a person, a body): general French
    # and English nouns for whoever acts, not words of any document.
    "who": re.compile(
        rf"{_interrogative('qui')}|{_interrogative('(?:who|whom)', 'and|or|but')}|\b(quel(?:le)?s?|which|what)\s+"
        r"(organismes?|instituts?|entreprises?|sociétés?|acteurs?|partenaires?|structures?|personnes?|auteurs?|éditeurs?|associations?|"
        r"administrations?|ministères?|opérateurs?|organi[sz]ations?|compan(?:y|ies)|bod(?:y|ies)|agenc(?:y|ies)|institutions?|people|persons?)\b",
        re.IGNORECASE,
    ),
    # « Qu'est-ce qu'un / que le … » asks what a thing is; « qu'est-ce qu'il faut / que je … »
    # asks what to do, and « qu'est-ce qui explique … » why (French interrogative syntax).
    "definition": re.compile(
        r"(qu['’]est[- ]ce\s+qu(?:['’](?:une?\b|on\s+(?:appelle|entend))|e\s+(?:le|la|les|c['’]est|l['’](?!on\b)))|"
        r"qu['’]est[- ]ce\s+qui\s+(?:constitue|caractérise|définit)|que\s+(?:cela\s+|ça\s+)?(?:signifie|veut\s+dire|désigne|recouvre)|c['’]est\s+quoi|définition|définir|"
        r"entend(?:-on)?\s+par|what\s+(?:is|are)\s+(?:an?\s+)?[\w-]+\s*\??$|what\s+does\s+.+\s+(?:mean|stand\s+for)|define|definition|"
        r"distingu\w+|différence|diffère|difference|differ)",
        re.IGNORECASE,
    ),
    # « quels/quelles » before a plural asks for several things (French agreement, any noun).
    "list": re.compile(
        r"\b(quel(?:le)?s\s+sont|quel(?:le)?s\s+(?:\w+\s+)?\w+[sx]|lister|énumérer|étapes|what\s+are|which\s+are|list\s+|"
        r"what\s+steps|steps|principaux|principales|main)\b",
        re.IGNORECASE,
    ),
    "reason": re.compile(
        r"\b(pourquoi|qu['’]est[- ]ce\s+qui\s+(?:explique|justifie|motive)|what\s+(?:explains|justifies)|pour\s+quelles?\s+raisons?|dans\s+quel\s+but|à\s+quoi\s+sert|quel\s+(?:est\s+l['’])?intérêt|why|for\s+what\s+reason|"
        r"what\s+for|purpose|comment|how\s+(?:do|does|can|should|to))\b",
        re.IGNORECASE,
    ),
}

# « À quel rythme », « à quelle fréquence », « how often »: a frequency, answered by a period
# (« toutes les semaines ») or by a rate (« dans 40 % des cas »).
_FREQUENCY = re.compile(
    r"\b(?:à\s+quel(?:le)?\s+(?:rythme|fréquence|périodicité|intervalle)|tous\s+les\s+combien|how\s+often|how\s+frequently|"
    r"at\s+what\s+(?:frequency|interval|pace))\b",
    re.IGNORECASE,
)


def asked_kinds(text: str) -> frozenset[str]:
    """The kinds of answer ``text`` asks for."""
    kinds = {kind for kind, pattern in _ASKS.items() if pattern.search(text)}
    if _FREQUENCY.search(text):
        kinds |= {"duration", "percent"}
    if kinds & {"percent", "money", "duration"}:
        kinds.add("quantity")
    return frozenset(kinds)


# -- what a text holds ---------------------------------------------------------------------------

_NUMBER_WORDS = (
    r"deux|trois|quatre|cinq|six|sept|huit|neuf|dix|onze|douze|quinze|vingt|trente|quarante|cinquante|soixante|cent|"
    r"mille|millions?|milliards?|dizaines?|douzaines?|centaines?|milliers?|two|three|four|five|six|seven|eight|nine|ten|"
    r"hundreds?|thousands?|millions?|billions?|dozens?"
)
QUANTITY_IN_WORDS = re.compile(
    rf"\b(?:plusieurs\s+(?:{_NUMBER_WORDS})|des\s+(?:dizaines|centaines|milliers|millions)|une?\s+(?:dizaine|vingtaine|centaine|"
    rf"quinzaine|trentaine|cinquantaine)|la\s+moitié|(?:un|le)\s+tiers|deux\s+tiers|(?:un|le)\s+quart|trois\s+quarts|"
    rf"la\s+(?:majorité|plupart|totalité)|(?:un|une|deux|trois|quatre|neuf)\s+(?:\w+\s+)?sur\s+(?:deux|trois|quatre|cinq|dix)|"
    rf"(?:{_NUMBER_WORDS})\b|half|a\s+third|a\s+quarter|most|majority)",
    re.IGNORECASE,
)
PERCENT_IN_TEXT = re.compile(
    r"\d\s?%|pour\s?cent|la\s+moitié|(?:un|le)\s+tiers|deux\s+tiers|(?:un|le)\s+quart|trois\s+quarts|"
    r"\b(?:un|une|deux|trois|quatre|neuf)\s+(?:\w+\s+)?sur\s+(?:deux|trois|quatre|cinq|dix)\b|la\s+majorité|half\b",
    re.IGNORECASE,
)
MONEY_IN_TEXT = re.compile(r"€|£|\$|\b(?:euros?|EUR|M€|k€|dollars?|USD|CAD|pounds?|GBP|livres?\s+sterling|francs?|CHF)\b", re.IGNORECASE)
_PERIOD = r"jours?|mois|ans|années?|semaines?|heures?|minutes?|trimestres?|semestres?|days?|months?|years?|weeks?|hours?|quarters?"
_WEEKDAYS = (
    r"lundis?|mardis?|mercredis?|jeudis?|vendredis?|samedis?|dimanches?|soirs?|matins?|nuits?|mondays?|tuesdays?|wednesdays?|"
    r"thursdays?|fridays?|saturdays?|sundays?|nights?|mornings?|evenings?"
)
# A period, or a frequency (« toutes les semaines », « chaque trimestre », « annuel », « weekly »), in
# figures or in words (« quelques heures », « chaque semaine »).
DURATION_IN_TEXT = re.compile(
    # a number of periods, an adjective allowed between (« dix prochaines années », « three full years »)
    rf"\b(?:\d+|{_NUMBER_WORDS}|quelques|plusieurs|un|une|a|an|few|several)\s+(?:[^\W\d_]+\s+)?(?:{_PERIOD})\b|\b\d+\s?(?:h|mn|min|j|hrs?|mins?)\b|"
    # a span between two years (« de 2021 à 2024 », « between 2019 and 2022 », « 2021-2024 »)
    r"\b(?:de|entre|from|between)\s+(?:19|20)\d\d\s+(?:à|et|to|and)\s+(?:19|20)\d\d\b|\b(?:19|20)\d\d\s?[-–]\s?(?:19|20)\d\d\b|"
    # how long something lasts, said without a number (« permanente », « jusqu'à ce que… »)
    r"\b(?:permanent\w*|indéfiniment|définitiv\w*|illimité\w*|à\s+vie|jusqu['’](?:à|au|aux)\b|tant\s+que|indefinitely|"
    r"until|unlimited|for\s+life)|"
    rf"\b(?:tou(?:s|tes)\s+les(?:\s+(?:\d+|{_NUMBER_WORDS}))?|chaque|par|every|each|per|once\s+a)\s+(?:{_PERIOD}|{_WEEKDAYS}|an)\b|"
    r"\b(?:quotidien\w*|hebdomadaire\w*|mensuel\w*|bimestriel\w*|trimestriel\w*|semestriel\w*|annuel\w*|"
    r"daily|weekly|monthly|quarterly|yearly|annually)\b",
    re.IGNORECASE,
)
_MONTHS = (
    "janvier|février|fevrier|mars|avril|mai|juin|juillet|août|aout|septembre|octobre|novembre|décembre|decembre|"
    "january|february|march|april|may|june|july|august|september|october|november|december"
)
# A day or a month, not just a year: « quand » is answered by « le 3 mars 2021 » rather than
# by a sentence that merely mentions 2024.
_DAY = rf"(?:\d{{1,2}}(?:er)?\s+(?:{_MONTHS})|(?:{_MONTHS})\s+\d{{4}}|\d{{1,2}}/\d{{1,2}}/\d{{2,4}})"
DAY_IN_TEXT = re.compile(rf"\b{_DAY}\b", re.IGNORECASE)
DATE_IN_TEXT = re.compile(rf"\b{_DAY}\b|{YEAR.pattern}", re.IGNORECASE)
DEFINITION_IN_TEXT = re.compile(
    r"\b(?:est|sont)\s+(?:un|une|des|le|la|les|l['’])\s|\bdésigne|\bsignifie|\bconsiste|\bcorrespond\s+à|c['’]est[- ]à[- ]dire|"
    r"\bse\s+définit|\bon\s+entend|\bappelé|\bis\s+an?\b|\bmeans\b|\brefers\s+to|\(\s*[A-Z]{2,}\s*\)|^[^:]{2,60}\s:\s",
    re.IGNORECASE,
)
REASON_IN_TEXT = re.compile(
    r"\b(?:car|parce\s+que|afin\s+de|afin\s+que|pour\s+(?:que|\w+er\b)|en\s+raison|grâce\s+à|permet(?:tent|tra)?\s+(?:de|d['’])|"
    r"dans\s+le\s+but|objectif|because|so\s+that|in\s+order\s+to|due\s+to|allows?)\b",
    re.IGNORECASE,
)
# Plans and intentions (« prévoient de », « d'ici un an ») against what is already done: French
# and English tense and modality.
PLAN = re.compile(
    r"\b(prévoi\w*|prévu\w*|envisag\w*|comptent|intention\w*|projet\w*\s+de|vont|va\s+\w+er|à\s+venir|d['’]ici|"
    r"(?:\w+\s+)?prochain\w*\s+mois|dans\s+l['’]année|l['’]an\s+prochain|plan\w*|expect\w*|intend\w*|will\b|next\s+(?:year|\d+|twelve))",
    re.IGNORECASE,
)


def carries(text: str, kind: str, unit_kind: str = "sentence") -> bool:
    """Whether ``text`` holds an answer of ``kind`` (one of ``ANSWER_KINDS``)."""
    match kind:
        case "quantity":
            counted = DATE_IN_TEXT.sub(" ", text)  # the numbers of a date count nothing
            return any(not (is_year(f.value) and not f.is_percent) for f in find_figures(counted)) or bool(QUANTITY_IN_WORDS.search(counted))
        case "percent":
            return bool(PERCENT_IN_TEXT.search(text))
        case "money":
            return bool(MONEY_IN_TEXT.search(text)) and bool(find_figures(text) or QUANTITY_IN_WORDS.search(text))
        case "duration":
            return bool(DURATION_IN_TEXT.search(text))
        case "date":
            return bool(DATE_IN_TEXT.search(text))
        case "who":
            return has_name(text)
        case "definition":
            return bool(DEFINITION_IN_TEXT.search(text))
        case "list":
            return unit_kind in ("list", "row") or text.count(";") >= 2 or text.count(",") >= 3
        case "reason":
            return bool(REASON_IN_TEXT.search(text))
    return False


def specific_kinds(asks: frozenset[str]) -> frozenset[str]:
    """The distinct kinds a question asks for that a text visibly holds or not, the most
    precise only: « quel montant » is answered by an amount, not by any number. « Qui » is not
    one of them: it is answered by a name as often as by a role or a group (« les organismes
    publics », « le directeur des systèmes d'information »), which no capital letter marks."""
    specific = (asks & DISTINCT_KINDS) - {"who"}
    if specific & {"percent", "money", "duration"}:
        specific -= {"quantity"}
    return frozenset(specific)
