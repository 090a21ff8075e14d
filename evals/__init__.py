"""Evaluation of note-rag: ``python -m evals`` (report.md, report.json, PNG charts).

    >>> from evals import load_questions, evaluate
    >>> result = evaluate(assistant, load_questions(), retrievers=("dense", "bm25", "hybrid"))
    >>> result.metrics["answer_accuracy"], result.retrieval["hybrid"]["hit@5"], result.failures()

See ``evals.harness`` for the metric definitions and ``evals.baseline`` for the naive LangChain
baseline the report compares against.
"""

from .harness import (
    DEFAULT_QUESTIONS,
    DEFINITIONS,
    EvalResult,
    Question,
    QuestionFileError,
    QuestionResult,
    evaluate,
    load_questions,
)

__all__ = [
    "evaluate",
    "load_questions",
    "EvalResult",
    "Question",
    "QuestionResult",
    "QuestionFileError",
    "DEFINITIONS",
    "DEFAULT_QUESTIONS",
]
