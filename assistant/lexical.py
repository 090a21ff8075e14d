"""French lexical analysis: tokens and stems for BM25, key terms of a question, its language.

Shared by the BM25 index, the sentence scorer and the abstention check so that "the question's
key terms" mean the same thing everywhere. English questions over French documents get their
key terms mapped through a small domain glossary (BM25 otherwise matches nothing across
languages, and coverage-based abstention would refuse every English question).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

from bm25s.stopwords import STOPWORDS_EN as STOPWORDS_ENGLISH, STOPWORDS_FRENCH

_WORD = re.compile(r"[a-zà-öø-ÿœæ0-9]+(?:[.,][0-9]+)*", re.IGNORECASE)

# Words that shape a question but never carry its subject.
QUESTION_WORDS_FR = {
    "quel", "quelle", "quels", "quelles", "combien", "comment", "pourquoi", "quand", "où", "qui", "quoi",
    "lequel", "laquelle", "lesquels", "lesquelles", "selon", "d'après", "est-ce", "dire", "indique", "indiquent",
    "fait", "faire", "peut", "peuvent", "donne", "donner", "cite", "citer", "explique", "expliquer", "déjà",
    "aussi", "encore", "plus", "moins", "très", "bien", "ont", "sont", "été", "avoir", "être", "y", "a", "il",
    "elle", "ils", "elles", "on", "document", "documents", "texte", "rapport", "parmi", "chez", "concernant",
    "sujet", "propos", "exactement", "environ", "actuellement", "aujourd'hui", "lors", "quelque", "quelques",
    "pourcentage", "part", "proportion", "taux", "nombre", "chiffre", "combien", "pour", "cent", "pourcent",
    "et", "ou", "mais", "donc", "alors", "ce", "cette", "ces", "ça", "cela", "dont", "leur", "leurs",
    "veut", "veux", "voudrais", "font", "beaucoup", "parle", "parlent", "signifie", "entend", "mentionne",
    "mentionnent", "agit", "après", "entre", "ici", "vont", "va", "dit", "disent", "pense", "pensent", "sait",
    "savoir", "connaître", "comment", "quoi", "côté", "chose", "choses", "type", "types", "sorte", "genre",
    "exemple", "exemples", "principal", "principaux", "principale", "principales", "plutôt", "surtout",
    "combientième", "tiennent", "compte", "situer", "dehors", "montre", "montrent", "ressort", "ressortir",
    "rapporte", "raconte", "évoque", "évoquent", "présente", "présentent", "concerne", "concernent",
    "année", "avant", "précédente", "dernier", "dernière", "regarde", "regarder", "si", "seulement", "uniquement",
}
QUESTION_WORDS_EN = {
    "what", "which", "who", "whom", "when", "where", "why", "how", "many", "much", "percentage", "share",
    "proportion", "rate", "number", "according", "document", "documents", "report", "say", "says", "tell",
    "does", "did", "do", "the", "a", "an", "of", "in", "on", "for", "to", "is", "are", "was", "were", "has",
    "have", "had", "been", "already", "and", "or", "about", "their", "its", "it", "they", "them", "there",
}

# English -> French domain glossary (multi-word entries first). Small on purpose: the words a
# reader of this corpus uses, so that an English question finds its French key terms.
GLOSSARY_EN_FR: dict[str, str] = {
    "local authorities": "collectivités",
    "local authority": "collectivité",
    "local governments": "collectivités",
    "local government": "collectivité",
    "local councils": "collectivités",
    "artificial intelligence": "intelligence artificielle",
    "cyber attack": "cyberattaque",
    "cyber attacks": "cyberattaque",
    "cyber-attack": "cyberattaque",
    "cyber-attacks": "cyberattaque",
    "data breach": "fuite de données",
    "data leak": "fuite de données",
    "chief data officer": "chief data officer administrateur général des données",
    "data governance": "gouvernance des données",
    "data charter": "charte de la donnée",
    "data catalog": "catalogue de données",
    "data catalogue": "catalogue de données",
    "data platform": "plateforme de données",
    "data lake": "lac de données",
    "digital twin": "jumeau numérique",
    "open source": "open source",
    "open data": "open data",
    "in-house servers": "serveurs internes",
    "internal servers": "serveurs internes",
    "public services": "services publics",
    "public service": "service public",
    "survey": "enquête",
    "surveyed": "interrogées",
    "respondents": "répondants",
    "respondent": "répondants",
    "sample": "échantillon",
    "municipalities": "communes",
    "municipality": "commune",
    "towns": "communes",
    "cities": "communes",
    "metropolises": "métropoles",
    "metropolitan": "métropoles",
    "regions": "régions",
    "departments": "départements",
    "authorities": "collectivités",
    "cyberattack": "cyberattaque",
    "cyberattacks": "cyberattaque",
    "attack": "attaque",
    "attacks": "attaques",
    "cybersecurity": "cybersécurité",
    "security": "sécurité",
    "victims": "victimes",
    "victim": "victime",
    "hit": "victimes",
    "suffered": "subi victimes",
    "experienced": "subi victimes",
    "ai": "ia",
    "data": "données data",
    "projects": "projets",
    "project": "projet",
    "launched": "lancées",
    "launch": "lancer",
    "months": "mois",
    "twelve": "douze",
    "next": "prochains",
    "inhabitants": "habitants",
    "residents": "habitants",
    "population": "habitants",
    "experimented": "expérimenté",
    "tested": "expérimenté",
    "planning": "prévoient",
    "plan": "prévoient",
    "governance": "gouvernance",
    "rules": "règles",
    "charter": "charte",
    "charters": "chartes",
    "ethics": "éthique",
    "ethical": "éthique",
    "sovereignty": "souveraineté",
    "cloud": "cloud",
    "servers": "serveurs",
    "stored": "stockées hébergées",
    "storage": "stockage",
    "hosted": "hébergées",
    "tools": "outils",
    "culture": "culture",
    "skills": "compétences",
    "time": "temps",
    "obstacles": "obstacles",
    "barriers": "obstacles",
    "partners": "partenaires",
    "published": "publié",
    "publish": "publient",
    "edition": "édition",
    "note": "note",
    "barometer": "baromètre",
    "observatory": "observatoire",
    "chatbots": "chatbot",
    "chatbot": "chatbot",
    "predictive": "prédictifs",
    "models": "modèles",
    "strategy": "stratégie",
    "responsible": "responsable",
    "digital": "numérique",
    "environmental": "environnementaux",
    "environment": "environnement",
    "energy": "énergie énergétique",
    "prevention": "prévention",
    "certification": "certification",
    "budget": "budget",
    "organisations": "organisations",
    "organizations": "organisations",
    "questions": "questions",
    "weeks": "semaines",
    "communes": "communes",
    "poll": "sondage",
    "citizens": "citoyens",
    "french": "français",
    "people": "français",
    "took part": "répondu échantillon",
    "take part": "répondu échantillon",
    "participated": "répondu échantillon",
    "exposed": "exposée",
    "exposure": "exposée",
    "believe": "pensent",
    "think": "pensent estiment",
    "probably": "probablement",
    "risk": "risque",
    "prepared": "préparation",
    "preparedness": "préparation",
    "network": "réseaux",
    "networks": "réseaux",
    "technical": "techniques",
    "deployed": "déploiement",
    "deploy": "déployer",
    "tools": "outils",
    "storage": "stockage",
    "store": "stocker stockage",
    "mainly": "majoritairement",
    "majority": "majoritairement",
    "manage": "gestion",
    "management": "gestion",
    "driven": "par la donnée",
    "sharing": "partage",
    "platform": "plateforme",
    "platforms": "plateformes",
    "private": "privés",
    "state": "État",
    "services": "services",
    "catalog": "catalogue",
    "catalogue": "catalogue",
    "lack": "manque",
    "training": "formations",
    "reversibility": "réversibilité",
    "use": "utiliser recours",
    "used": "recours utilisé",
    "using": "recours",
    "already": "déjà",
    "expect": "prévoient",
    "expected": "prévoient",
    "planned": "prévu",
    "start": "lancer",
    "started": "lancé",
    "within": "dans",
    "year": "année",
    "inclusion": "inclusion",
    "accessibility": "accessibilité",
}

_ENGLISH_MARKERS = {
    "what", "which", "who", "how", "many", "much", "the", "of", "did", "does", "is", "are", "have", "has",
    "according", "percentage", "share", "when", "were", "was", "there", "their", "in", "to",
}
_FRENCH_MARKERS = {
    "quel", "quelle", "quels", "quelles", "combien", "les", "des", "une", "est", "sont", "ont", "qui", "que",
    "pour", "dans", "selon", "du", "la", "le", "et", "en", "pourcentage", "qu",
}

FIGURE_QUESTION = re.compile(
    r"\b(combien|quel(?:le)?s?\s+(?:est\s+(?:le|la)\s+)?(?:pourcentage|part|proportion|taux|nombre|chiffre|score|niveau)|"
    r"quelle\s+part|dans\s+quelle\s+proportion|en\s+quelle\s+proportion|pourcentage|how\s+many|how\s+much|"
    r"what\s+(?:percentage|share|proportion|fraction|number|rate)|percentage|proportion|share\s+of)\b",
    re.IGNORECASE,
)
YEAR = re.compile(r"\b(19[5-9]\d|20\d\d)\b")
DATE_QUESTION = re.compile(
    r"\b(quand|quelle\s+date|à\s+quelle\s+(?:date|période|époque)|en\s+quelle\s+année|depuis\s+quand|quelle\s+période|"
    r"when|what\s+date|which\s+date|what\s+year|which\s+year|what\s+period)\b",
    re.IGNORECASE,
)
WHO_QUESTION = re.compile(
    r"\b(qui|quel(?:le)?s?\s+(?:organisme|organismes|entreprise|institut|société|acteur|acteurs|partenaire|partenaires|"
    r"structure|structures|personne|auteur|éditeur)|who|which\s+(?:organisation|organization|company|institute|firm))\b",
    re.IGNORECASE,
)
DEFINITION_QUESTION = re.compile(
    r"(qu['’]est[- ]ce\s+qu|que\s+(?:signifie|veut\s+dire|désigne|recouvre)|c['’]est\s+quoi|définition|"
    r"entend(?:-on)?\s+par|what\s+(?:is|are|does)\b.*\b(?:mean|stand)|what\s+is\s+an?\b|definition)",
    re.IGNORECASE,
)

# Words addressed to an AI system, wherever they appear (a question or a document).
_AT_THE_AI = (
    r"ignore[rsz]?\s+(?:tes|les|vos|toutes?\s+les|all|any|the|your|previous|prior)?\s*(?:\w+\s+)?(?:instructions?|consignes?|prompt)|"
    r"oublie[rsz]?\s+(?:tes|les|vos|toutes?\s+les)\s+(?:instructions?|consignes?)|disregard\s+(?:all|any|the|previous|prior)|"
    r"forget\s+(?:all|your|previous)\s+instructions|system\s+prompt|prompt\s+système|tu\s+es\s+(?:maintenant|désormais)|"
    r"you\s+are\s+now"
)
# A question may also carry broader orders ("affirme que…", "ignore les règles").
_INJECTION = re.compile(
    rf"({_AT_THE_AI}|ignore[rsz]?\s+(?:\w+\s+){{0,2}}(?:règles|rules)|oublie[rsz]?\s+(?:tes|les|vos)\s+règles|"
    r"(?:affirme|réponds?|dis|écris|déclare)\s+(?:simplement\s+)?(?:que|qu')\s|(?:answer|say|state|claim)\s+that\s|"
    r"nouvelles?\s+(?:instructions?|consignes?)(?:\s+\w+)?\s*:|consignes?\s+système|new\s+instructions?\s*:|jailbreak|mode\s+développeur)",
    re.IGNORECASE,
)


def strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("french")


_STOP = {strip_accents(w) for w in STOPWORDS_FRENCH} | {strip_accents(w) for w in STOPWORDS_ENGLISH}
_QUESTION_STOP = {strip_accents(w) for w in QUESTION_WORDS_FR | QUESTION_WORDS_EN}


# Long forms that documents and readers write either way, folded into their acronym so that
# "l'IA" in a question matches "l'intelligence artificielle" in a passage (and vice versa).
ACRONYMS: dict[str, str] = {
    "intelligence artificielle": "ia",
    "intelligences artificielles": "ia",
    "artificial intelligence": "ia",
    "chief data officer": "cdo",
    "administrateur général des données": "cdo",
    "administrateurs généraux des données": "cdo",
    "système d'information géographique": "sig",
    "systèmes d'information géographique": "sig",
    "direction générale des services": "dgs",
    "directeur général des services": "dgs",
    "direction des systèmes d'information": "dsi",
    "directions informatiques": "dsi",
    "direction informatique": "dsi",
    "assistant à maîtrise d'ouvrage": "amo",
    "assistants à maîtrise d'ouvrage": "amo",
    "opérateur de service public numérique": "opsn",
    "opérateurs de service public numérique": "opsn",
    "plateforme régionale d'information géographique": "prig",
    "plateformes régionales d'information géographique": "prig",
    "computer security incident response team": "csirt",
    "règlement général sur la protection des données": "rgpd",
    "délégué à la protection des données": "dpo",
    "établissement public de coopération intercommunale": "epci",
    "établissements publics de coopération intercommunale": "epci",
}
_ACRONYM_PATTERN = re.compile("|".join(re.escape(k) for k in sorted(ACRONYMS, key=len, reverse=True)))


def words(text: str) -> list[str]:
    """Lower-case words; elisions ("l'IA", "d'une") and hyphens split; numbers kept whole."""
    text = text.lower().replace("’", "'")
    text = _ACRONYM_PATTERN.sub(lambda m: f" {ACRONYMS[m.group(0)]} ", text)
    text = re.sub(r"\b([cdjlmnst]|qu|jusqu|lorsqu|puisqu)'", " ", text)
    return [w.replace(",", ".") for w in _WORD.findall(text)]


# In a survey report, these all name the population a figure counts ("24 % des répondants"
# answers "quelle part des organisations interrogées"): one stem for all of them.
POPULATION_STEMS = {"repond": "collect", "interrog": "collect", "organis": "collect", "structur": "collect", "sond": "collect"}


def stem(word: str) -> str:
    if word[0].isdigit():
        return word.rstrip(".")
    stemmed = strip_accents(_stemmer().stemWord(word))
    return POPULATION_STEMS.get(stemmed, stemmed)


def tokens(text: str) -> list[str]:
    """Stems of the non-stopwords of ``text``: the BM25 vocabulary."""
    return list(_tokens(text))


@lru_cache(maxsize=65536)
def _tokens(text: str) -> tuple[str, ...]:
    # every answer re-reads the same passages' sentences: stemming them once is enough
    return tuple(stem(w) for w in words(text) if strip_accents(w) not in _STOP and (len(w) > 1 or w.isdigit()))


def detect_language(text: str) -> str:
    """'en' or 'fr', by function words (questions are short: a library would guess poorly)."""
    found = [w for w in words(text)]
    english = sum(w in _ENGLISH_MARKERS for w in found)
    french = sum(w in _FRENCH_MARKERS for w in found) + 2 * bool(re.search(r"[éèêàùçœ]", text.lower()))
    return "en" if english > french else "fr"


def translate_terms(text: str) -> str:
    """An English question's key terms in French: glossary words, names, acronyms and numbers.

    English words outside the glossary are dropped rather than kept: they can never match the
    French text, and would only make every English question look unanswerable.
    """
    lowered = " " + " ".join(words(text)) + " "
    mapped: list[str] = []
    for source in sorted(GLOSSARY_EN_FR, key=len, reverse=True):
        needle = f" {source} "
        if needle in lowered:
            mapped.append(GLOSSARY_EN_FR[source])
            lowered = lowered.replace(needle, " ")
    remaining = set(lowered.split())
    candidates = (re.sub(r"'s$", "", w).replace(",", ".") for w in re.findall(r"\b(?:[A-Z][\w'-]+|[A-Z]{2,}\w*|\d[\d.,]*\d|\d)\b", text))
    names = [w for w in candidates if w.lower() in remaining and w.lower() not in STOPWORDS_ENGLISH and w.lower() not in QUESTION_WORDS_EN]
    mapped.extend(names[1:] if names and text.strip().startswith(names[0]) else names)
    return " ".join(mapped)


@dataclass
class QuestionAnalysis:
    """What the answerers need to know about a question, computed once."""

    text: str
    language: str
    key_terms: list[str]  # stems that the answer passage should contain
    asks_figure: bool
    asks_date: bool
    asks_who: bool
    asks_definition: bool
    years: list[int]
    lexical_query: str  # the text given to BM25 (translated for English questions)
    context_terms: list[str] = field(default_factory=list)  # from the previous turn of a follow-up
    previous_answer: str | None = None  # what the assistant said before a follow-up


def key_terms(text: str) -> list[str]:
    return list(
        dict.fromkeys(
            stem(w)
            for w in words(text)
            if strip_accents(w) not in _STOP and strip_accents(w) not in _QUESTION_STOP and (len(w) > 1 or w.isdigit())
        )
    )


# Plans ("prévoient de…", "dans les douze prochains mois") versus what is already done.
PLAN = re.compile(
    r"\b(prévoi\w*|prévu\w*|envisag\w*|comptent|intention\w*|projet\w* de|vont|va\s+\w+er|à venir|"
    r"(?:douze|12)\s+(?:prochains\s+)?mois|sous\s+(?:un\s+an|12\s+mois)|dans\s+l['’]année|l['’]an\s+prochain|"
    r"plan\w*|expect\w*|intend\w*|next\s+(?:year|12|twelve))\b",
    re.IGNORECASE,
)
_PREVIOUS_YEAR = re.compile(
    r"l['’]année\s+(?:d['’]avant|précédente|dernière)|l['’]an\s+dernier|l['’]édition\s+(?:d['’]avant|précédente)|"
    r"(?:the\s+)?(?:previous|prior|last)\s+(?:year|edition)|the\s+year\s+before",
    re.IGNORECASE,
)
_COMPOUND = re.compile(
    r"(?:,\s*|\s+)(?:et|puis|ainsi que)\s+(?=(?:quel(?:le)?s?|combien|qu['’e]|où|comment|pourquoi|dans\s+quel(?:le)?s?|"
    r"à\s+quel(?:le)?s?|sur\s+quel(?:le)?s?|pour\s+quel(?:le)?s?|avec\s+quel(?:le)?s?|en\s+quelle)\b)|"
    r"(?:,\s*|\s+)and\s+(?=(?:what|how|which|who|where|when|why)\b)|(?<=\?)\s+(?=[A-ZÀ-Þ])",
    re.IGNORECASE,
)


def split_compound(question: str) -> list[str]:
    """The sub-questions of "quelle part X, et quelle part Y ?" (one part for a simple question)."""
    parts = [p.strip(" ,;") for p in _COMPOUND.split(question) if p and len(p.strip(" ,;?")) > 8]
    return parts if len(parts) > 1 else [question]


def analyse(question: str, previous: str | None = None) -> QuestionAnalysis:
    language = detect_language(question)
    lexical = translate_terms(question) if language == "en" else question
    context = ""
    if previous:
        context = translate_terms(previous) if detect_language(previous) == "en" else previous
    years = [int(y) for y in YEAR.findall(question)]
    if not years and previous and _PREVIOUS_YEAR.search(question):
        years = [int(y) - 1 for y in YEAR.findall(previous)]
    terms = [t for t in key_terms(lexical) if not t.isdigit() or int(float(t)) not in years]
    context_terms = [t for t in key_terms(context) if t not in terms and not t.isdigit()]
    return QuestionAnalysis(
        text=question,
        language=language,
        key_terms=terms,
        asks_figure=bool(FIGURE_QUESTION.search(question)) or bool(previous and FIGURE_QUESTION.search(previous) and len(terms) <= 3),
        asks_date=bool(DATE_QUESTION.search(question)),
        asks_who=bool(WHO_QUESTION.search(question)),
        asks_definition=bool(DEFINITION_QUESTION.search(question)),
        years=years or ([int(y) for y in YEAR.findall(previous)] if previous and len(terms) <= 3 else []),
        lexical_query=f"{context} {lexical}".strip(),
        context_terms=context_terms,
    )


# Inside documents, only sentences addressed to an AI system count ("il déclare que…" is prose).
_PASSAGE_INJECTION = re.compile(
    rf"({_AT_THE_AI}|(?:^|[.!?:]\s*)(?:réponds|répondez|affirme|affirmez|answer|say|reply)\s+(?:que|qu'|that)\b|"
    r"(?:assistant|chatbot|ia|ai|llm|modèle)\s*[,:]\s*(?:ignore|réponds|affirme|answer|say))",
    re.IGNORECASE,
)


def sanitize_passage(text: str) -> str:
    """A passage without its sentences addressed to an AI system (passages are data)."""
    from ingest.text import split_sentences

    sentences = split_sentences(text)
    kept = [s for s in sentences if not passage_injection(s)]
    return text if len(kept) == len(sentences) else " ".join(kept)


def looks_like_injection(text: str) -> bool:
    """A question carrying instructions for the assistant ("ignore tes instructions…", "réponds que…")."""
    return bool(_INJECTION.search(text))


def passage_injection(text: str) -> bool:
    """A document sentence addressed to an AI system rather than to readers."""
    return bool(_PASSAGE_INJECTION.search(text))


def is_follow_up(question: str) -> bool:
    """An elliptic question that only makes sense with the previous turn.

    « Et les métropoles ? » is one; « Qu'est-ce qu'un CSIRT ? » is short but stands alone
    (it names its subject: an acronym, a name, a year).
    """
    lowered = question.strip().lower()
    if re.match(r"^(et|mais|and|what about|how about|même question|idem|pareil)\b", lowered):
        return True
    names_subject = re.search(r"\b[A-Z]{2,}\b|\b(19|20)\d\d\b|(?<!^)(?<![.?!]\s)\b[A-ZÀ-Þ][a-zà-ÿ]{2,}", question.strip())
    return len(key_terms(question)) <= 1 and not names_subject
