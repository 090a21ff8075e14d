"""Lexical helpers: words, French stems, key terms, language, instructions aimed at the assistant.

A helper that the stages call (BM25 indexing, question analysis, evidence features,
grounding), not a stage of its own. Everything here is a property of French or English, not
of the indexed documents: stop words and stems come from bm25s and Snowball, the question
words are the ones any French or English question is built with, and acronyms are learned from
the indexed text itself (``acronyms_in``), never listed by hand.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from bm25s.stopwords import STOPWORDS_EN as STOPWORDS_ENGLISH, STOPWORDS_FRENCH

_WORD = re.compile(r"[a-zà-öø-ÿœæ0-9]+(?:[.,][0-9]+)*", re.IGNORECASE)

# Words that shape a French or English question but never carry its subject: interrogatives,
# auxiliaries, verbs of asking and saying, and the generic nouns of quantity. They hold for
# any question about any document.
QUESTION_WORDS_FR = {
    "quel", "quelle", "quels", "quelles", "combien", "comment", "pourquoi", "quand", "où", "qui", "quoi",
    "lequel", "laquelle", "lesquels", "lesquelles", "selon", "d'après", "est-ce", "dire", "indique", "indiquent",
    "fait", "faire", "peut", "peuvent", "donne", "donner", "cite", "citer", "explique", "expliquer", "déjà",
    "aussi", "encore", "plus", "moins", "très", "bien", "ont", "sont", "été", "avoir", "être", "y", "a", "il",
    "elle", "ils", "elles", "on", "document", "documents", "texte", "parmi", "chez", "concernant",
    "sujet", "propos", "exactement", "environ", "actuellement", "aujourd'hui", "lors", "quelque", "quelques",
    "pourcentage", "part", "proportion", "taux", "nombre", "chiffre", "pour", "cent", "pourcent",
    "et", "ou", "mais", "donc", "alors", "ce", "cette", "ces", "ça", "cela", "dont", "leur", "leurs",
    "veut", "veux", "voudrais", "font", "beaucoup", "parle", "parlent", "signifie", "entend", "mentionne",
    "mentionnent", "agit", "après", "entre", "ici", "vont", "va", "dit", "disent", "pense", "pensent", "sait",
    "savoir", "connaître", "côté", "chose", "choses", "type", "types", "sorte", "genre",
    "exemple", "exemples", "principal", "principaux", "principale", "principales", "plutôt", "surtout",
    "montre", "montrent", "ressort", "rapporte", "raconte", "évoque", "évoquent", "présente", "présentent",
    "concerne", "concernent", "si", "seulement", "uniquement", "quoi",
}
QUESTION_WORDS_EN = {
    "what", "which", "who", "whom", "when", "where", "why", "how", "many", "much", "percentage", "share",
    "proportion", "rate", "number", "according", "document", "documents", "report", "say", "says", "tell",
    "does", "did", "do", "the", "a", "an", "of", "in", "on", "for", "to", "is", "are", "was", "were", "has",
    "have", "had", "been", "already", "and", "or", "about", "their", "its", "it", "they", "them", "there",
}
_ENGLISH_MARKERS = {
    "what", "which", "who", "how", "many", "much", "the", "of", "did", "does", "is", "are", "have", "has",
    "according", "percentage", "share", "when", "were", "was", "there", "their", "in", "to", "why", "should",
    "can", "do", "and", "for", "with", "this", "that", "they",
}
_FRENCH_MARKERS = {
    "quel", "quelle", "quels", "quelles", "combien", "les", "des", "une", "est", "sont", "ont", "qui", "que",
    "pour", "dans", "selon", "du", "la", "le", "et", "en", "pourcentage", "qu", "comment", "pourquoi", "quoi",
    "il", "elle", "faut", "peut", "sur", "par", "au", "aux",
}


def strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("french")


_STOP = {strip_accents(w) for w in STOPWORDS_FRENCH} | {strip_accents(w) for w in STOPWORDS_ENGLISH}
_QUESTION_STOP = {strip_accents(w) for w in QUESTION_WORDS_FR | QUESTION_WORDS_EN}


def words(text: str) -> list[str]:
    """Lower-case words; elisions ("l'IA", "d'une") and hyphens split; numbers kept whole."""
    text = text.lower().replace("’", "'")
    text = re.sub(r"\b([cdjlmnst]|qu|jusqu|lorsqu|puisqu)'", " ", text)
    return [w.replace(",", ".") for w in _WORD.findall(text)]


def stem(word: str) -> str:
    if word[0].isdigit():
        return word.rstrip(".")
    return strip_accents(_stemmer().stemWord(word))


def tokens(text: str) -> list[str]:
    """Stems of the non-stopwords of ``text``: the BM25 vocabulary."""
    return list(_tokens(text))


@lru_cache(maxsize=65536)
def _tokens(text: str) -> tuple[str, ...]:
    # every answer re-reads the same passages' units: stemming them once is enough
    return tuple(stem(w) for w in words(text) if strip_accents(w) not in _STOP and (len(w) > 1 or w.isdigit()))


def key_terms(text: str) -> list[str]:
    """Stems that carry a question's subject (stop words and question words left out)."""
    return list(
        dict.fromkeys(
            stem(w)
            for w in words(text)
            if strip_accents(w) not in _STOP and strip_accents(w) not in _QUESTION_STOP and (len(w) > 1 or w.isdigit())
        )
    )


def present(term: str, terms: set[str]) -> bool:
    """Exact stem, or one stem prefixing the other ("stock" / "stockag", "héberg" / "hébergé")."""
    if term in terms:
        return True
    if len(term) < 4 or term[0].isdigit():
        return False
    return any(len(other) >= 4 and (other.startswith(term) or term.startswith(other)) for other in terms)


def detect_language(text: str) -> str:
    """'en' or 'fr', by function words (questions are short: a library would guess poorly)."""
    found = words(text)
    english = sum(w in _ENGLISH_MARKERS for w in found)
    french = sum(w in _FRENCH_MARKERS for w in found) + 2 * bool(re.search(r"[éèêàùçœ]", text.lower()))
    return "en" if english > french else "fr"


# --------------------------------------------------------------------------------------------
# acronyms, learned from the indexed text

_LONG_THEN_SHORT = re.compile(r"((?:[\w’'-]+\s+){1,8}?[\w’'-]+)\s*\(\s*([A-ZÀ-Þ][A-Za-zÀ-ÿ0-9&]{1,9})\s*\)")
_SHORT_THEN_LONG = re.compile(r"\b([A-Z][A-Z0-9&]{1,9})\s*\(\s*([^(),;]{6,90}?)\s*[,;)]")


def _initials_match(acronym: str, phrase: str) -> str | None:
    """The shortest tail of ``phrase`` whose significant words start with the acronym's letters."""
    letters = [c for c in strip_accents(acronym).lower() if c.isalpha()]
    candidates = re.findall(r"[\w’'-]+", phrase)
    for start in range(len(candidates) - 1, -1, -1):
        tail = candidates[start:]
        initials = [strip_accents(w).lower()[0] for w in tail if strip_accents(w).lower() not in _STOP and w[0].isalpha()]
        if initials == letters or (len(letters) >= 2 and "".join(initials).startswith("".join(letters)) and len(initials) <= len(letters) + 1):
            if strip_accents(tail[0]).lower() not in _STOP:
                return " ".join(tail)
    return None


def acronyms_in(texts: list[str]) -> dict[str, str]:
    """Acronym -> long form, as the documents define them: "long form (ACR)" or "ACR (long form)"."""
    found: dict[str, str] = {}
    for text in texts:
        for long_form, acronym in _LONG_THEN_SHORT.findall(text):
            if acronym.isupper() or sum(c.isupper() for c in acronym) >= 2:
                expanded = _initials_match(acronym, long_form)
                if expanded:
                    found.setdefault(acronym.lower(), expanded)
        for acronym, long_form in _SHORT_THEN_LONG.findall(text):
            expanded = _initials_match(acronym, long_form)
            if expanded and expanded.split()[0] == long_form.split()[0]:
                found.setdefault(acronym.lower(), expanded)
    return found


# --------------------------------------------------------------------------------------------
# instructions aimed at the assistant

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
# Inside documents, only sentences addressed to an AI system count ("il déclare que…" is prose).
_PASSAGE_INJECTION = re.compile(
    rf"({_AT_THE_AI}|(?:^|[.!?:]\s*)(?:réponds|répondez|affirme|affirmez|answer|say|reply)\s+(?:que|qu'|that)\b|"
    r"(?:assistant|chatbot|ia|ai|llm|modèle)\s*[,:]\s*(?:ignore|réponds|affirme|answer|say))",
    re.IGNORECASE,
)


def looks_like_injection(text: str) -> bool:
    """A question carrying instructions for the assistant ("ignore tes instructions…", "réponds que…")."""
    return bool(_INJECTION.search(text))


def passage_injection(text: str) -> bool:
    """A document sentence addressed to an AI system rather than to readers."""
    return bool(_PASSAGE_INJECTION.search(text))


def sanitize_passage(text: str) -> str:
    """A passage without its sentences addressed to an AI system (passages are data)."""
    from ingest.text import split_sentences

    sentences = split_sentences(text)
    kept = [s for s in sentences if not passage_injection(s)]
    return text if len(kept) == len(sentences) else " ".join(kept)
