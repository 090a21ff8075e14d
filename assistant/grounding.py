"""Grounding checks: what any answer must pass before a reader sees it.

An LLM reply is checked against the units it was given: markers that point nowhere are
removed, uncited sentences get the unit that says them (or are flagged), every figure is
checked against the cited units, a reply that declines becomes a clean abstention, and a reply
that only restates the question or lacks the figure asked for gives way to the extractive
answer, which passes these checks by construction (it quotes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ingest.text import split_sentences

from ingest.patterns import CITATION, END_PUNCTUATION, NAME, cited_numbers, without_citations

from .reader import Selection
from .extractive import abstention_text
from .figures import contains, find_figures, unsupported_figures
from .lexical import detect_language, key_terms, tokens
from .question import Question

_DECLINES = re.compile(
    r"ne permett\w* pas de répondre|ne contien\w* pas (?:d'information|l'information|de réponse|de chiffre)|"
    r"pas d'information (?:sur|concernant|à ce sujet)|ne (?:mentionne|précise|donne|fournit|indique)\w* pas|"
    r"je ne (?:peux|sais) pas|aucune information|impossible de répondre|do(?:es)? not (?:answer|contain|mention|provide|say)|"
    r"cannot answer|can't answer|no information|not (?:mentioned|specified|provided) in",
    re.IGNORECASE,
)


@dataclass
class Grounded:
    text: str
    cited: list[int]  # passage numbers (as given to the model), in order of first citation
    unsupported: list[str]
    abstained: bool
    unsupported_names: list[str] = field(default_factory=list)  # names and acronyms no cited passage writes


def declines(text: str) -> bool:
    return bool(_DECLINES.search(text))


def ground(reply: str, passages: list[str], language: str, strict: bool = False, question: str = "") -> Grounded:
    """Check a model reply against the passages it was given (numbered from 1, headers included)."""
    reply = reply.strip().strip('"').strip()
    abstain_text = abstention_text(language)
    if not reply or (declines(reply) and len(reply) < 400):
        return Grounded(abstain_text, [], [], True)

    def keep_valid(match: re.Match[str]) -> str:
        numbers = [int(x) for x in re.split(r"\s*[,;]\s*", match.group(1))]
        valid = [n for n in numbers if 1 <= n <= len(passages)]
        return "".join(f"[{n}]" for n in dict.fromkeys(valid))

    reply = CITATION.sub(keep_valid, reply)
    leading = re.match(r"^\s*((?:\[\d+\])+)\s*(\S.*)$", reply, re.DOTALL)
    sentences = split_sentences(leading.group(2) if leading else reply)
    if leading and sentences:  # "[1] 17 % des…" reads better as "17 % des… [1]."
        sentences[0] = _append_markers(sentences[0], [int(n) for n in re.findall(r"\d+", leading.group(1))])
    repaired: list[str] = []
    for sentence in sentences:
        if not CITATION.search(sentence):
            best = _best_passage(sentence, passages)
            if best is not None:
                sentence = _append_markers(sentence, [best])
        repaired.append(sentence)

    cited = cited_numbers(" ".join(repaired))
    cited_passages = [passages[n - 1] for n in cited]
    unsupported = unsupported_figures(" ".join(repaired), cited_passages, question)
    if strict and unsupported:
        repaired = [s for s in repaired if not unsupported_figures(s, cited_passages, question)]
        unsupported = []
    text = re.sub(r"\s+(\[\d+\])", r" \1", " ".join(repaired)).strip()
    return Grounded(text, cited, unsupported, False, unsupported_names(text, cited_passages, question))


def unsupported_names(text: str, cited: list[str], question: str = "") -> list[str]:
    """Names and acronyms of ``text`` (« l'INSEE », « Météo France ») that neither a cited passage
    nor the question writes: after figures, the claims a reader checks first (who produces,
    who said). Read from capitals, the same way for any document (``ingest.patterns.NAME``)."""
    plain = without_citations(text)
    sources = [question, *cited]
    unsupported: dict[str, None] = {}
    for match in NAME.finditer(plain):
        name = match.group(0)
        forms = [name]
        # At the start of a line, after an opening quote, a bracket or a colon, any word takes a
        # capital: « Selon Météo France » may name « Météo France » only.
        if re.search(r"(?:^|\n|[«“\"(:]\s*)$", plain[: match.start()]) and " " in name:
            forms.append(name.split(" ", 1)[1])
        if not any(contains(source, form, whole_words=True) for source in sources for form in forms):
            unsupported.setdefault(name)
    return list(unsupported)


def _best_passage(sentence: str, passages: list[str]) -> int | None:
    """The passage that shares most key terms with an uncited sentence (None if none is close)."""
    terms = set(key_terms(sentence))
    if not terms:
        return None
    scores = [len(terms & set(tokens(p))) / len(terms) for p in passages]
    best = max(range(len(passages)), key=lambda i: scores[i]) if passages else None
    return best + 1 if best is not None and scores[best] >= 0.5 else None


def _append_markers(sentence: str, numbers: list[int]) -> str:
    markers = "".join(f"[{n}]" for n in numbers)
    match = re.search(rf"({END_PUNCTUATION})\s*$", sentence)
    if match:
        return f"{sentence[: match.start()]} {markers}{match.group(1)}"
    return f"{sentence} {markers}"


def _values(text: str, question: Question) -> set[float]:
    """Figure values of ``text`` beyond those the question itself names."""
    asked = {f.value for f in find_figures(question.asked)}
    return {f.value for f in find_figures(text)} - asked


_ASIDE = re.compile(r"\(([^()]{3,300})\)")


def asides(text: str) -> list[str]:
    """Explanations a source gives in parentheses: « SIG (systèmes d'information
    géographique) », « PLU (plan local d'urbanisme, c'est-à-dire le document qui fixe les règles
    de construction de la commune) ».

    Whatever their length, they say what a term means; a written answer that drops one (or
    rewords it) says less than the quote it would replace, and a definition question is
    answered by exactly that. Asides made of figures are the figure check's business.
    """
    found = []
    for match in _ASIDE.finditer(text):
        inner = match.group(1).strip()
        words = re.findall(r"[^\W\d_][\w'’-]*", inner)
        if words and not find_figures(inner):
            found.append(inner)
    return found


def translation_problem(question: Question, selection: Selection) -> str | None:
    """Why no model should write this answer at all (None: one may try).

    When the quoted units are in another language than the question, a written answer is a
    translation: the checks below can hold its figures against the units, not its words (who,
    which, what), so a wrong subject or a dropped qualifier would pass unseen; the quote, framed
    in the question's language, is what the reader can check. This holds for any pair of
    languages. Measured with the local model on every eval split (README, « LLM modes,
    measured »): every answer it lost against the quote was such a translation, and it wrote 6
    of them in 201 questions, right (by reading) 3 times where the quote was right 4 times.
    Asking the model is then skipped, which also spares the reader its seconds.
    """
    quoted = " ".join(e.text for e in selection.evidence)
    if quoted and detect_language(quoted) != question.language:
        return "extraits dans une autre langue que la question, une traduction ne pourrait pas être vérifiée"
    return None


def replacement_problem(grounded: Grounded, question: Question, selection: Selection | None, selected_units: list[int]) -> str | None:
    """Why a model's reply may not replace the extractive answer (None: it may).

    The extractive answer quotes, so it passes these checks by construction; a written answer
    must be at least as right. Measured on the eval splits (see README), the local 1.5B model
    declines questions the units answer, misreads figures ("28 % des métropoles" became "28
    métropoles") and sometimes drops the figure the quote gave: each of those keeps the quote.

    - the reply declines, cites nothing, or holds a figure, a name or an acronym no cited unit holds;
    - it is not in the question's language;
    - when it rephrases the quote (``selection`` given: the model read the quoted units and
      their neighbours only): it cites none of the units the quote uses (it answers something
      else), or, for a question asking for a list or a reason, not all of them; it drops a
      figure of the quoted units that is not in the question, or an explanation they give in
      parentheses (an acronym's expansion, a definition: :func:`asides`). A model that read the
      whole passages may answer from other units: these checks do not apply to it;
    - it asks a question (an answer never does: a small model sometimes turns the second half
      of a compound question back into one);
    - it only restates the question.
    """
    if grounded.abstained:
        return "le modèle n'a pas trouvé la réponse dans les extraits"
    if not grounded.cited:
        return "réponse sans source"
    if grounded.unsupported:
        return f"chiffre absent des extraits cités : {', '.join(grounded.unsupported)}"
    if grounded.unsupported_names:
        return f"nom absent des extraits cités : {', '.join(grounded.unsupported_names)}"
    plain = without_citations(grounded.text)
    if detect_language(plain) != question.language:
        return "réponse dans une autre langue que la question"
    if selected_units and not set(grounded.cited) & set(selected_units):
        return "réponse appuyée sur d'autres extraits que ceux cités"
    if question.asks & {"list", "reason"} and selected_units and not set(selected_units) <= set(grounded.cited):
        # The quote's units are the items or the explanation (the sentence after a claim, the
        # rest of a list): a reply that leaves one uncited drops part of the answer, as one
        # that drops a quoted figure does.
        return "réponse qui omet une partie des extraits de la liste ou de l'explication"
    if selection is not None:
        quoted = set().union(*(_values(e.text, question) for e in selection.core_evidence)) if selection.core_evidence else set()
        dropped = quoted - _values(grounded.text, question)
        if dropped:
            shown = ", ".join(f"{v:g}" for v in sorted(dropped))
            return f"chiffre de la citation omis : {shown}"
        for evidence in selection.core_evidence:
            for aside in asides(evidence.text):
                if not contains(plain, aside) and not contains(question.asked, aside):
                    return f"précision entre parenthèses omise : « {aside} »"
    if "?" in plain:
        return "réponse qui pose une question"
    said = set(key_terms(plain)) - set(question.terms) - set(question.own_terms)
    if len(said) < 2 and not _values(grounded.text, question):
        return "réponse qui reprend la question"
    return None
