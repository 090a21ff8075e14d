"""Which answer mode ``make run`` starts in, decided by measurement, not by hand.

``python -m evals --split NAME --modes extractive,local`` (the whole split, no ``--slow-limit``)
records, per split, the answer accuracy of extractive and of the LLM mode, the share of answers
the LLM wrote, and the first-answer and final-answer latencies, in ``evals/llm-modes.json``
(committed). ``ui.py --auto-mode`` reads it through ``assistant.mode_measures``: an LLM mode is
the default only when it was measured on every split and is at least as accurate as extractive
on each.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

# The reader and the rule (assistant.mode_measures.verdict) belong to the product: ui.py reads
# them without importing evals. The evals only write the file.
from assistant.mode_measures import MEASURES, load


def record(split: str, results: list[Any], command: str, path: Path = MEASURES) -> list[str]:
    """Store the measurement of each LLM mode of ``results`` against extractive on ``split``.

    Returns the modes recorded. Only full runs count: a sampled LLM run is not comparable.
    """
    by_mode = {r.config.get("mode"): r for r in results if r.config.get("main_embeddings")}
    extractive = by_mode.get("extractive")
    if extractive is None:
        return []
    data = load(path)
    recorded = []
    for mode, result in by_mode.items():
        if mode in (None, "extractive", "naive") or result.metrics.get("n") != extractive.metrics.get("n"):
            continue
        m, e = result.metrics, extractive.metrics
        data.setdefault(mode, {})[split] = {
            "n": m["n"],
            "extractive_accuracy": round(e["answer_accuracy"], 4),
            "accuracy": round(m["answer_accuracy"], 4),
            "llm_share": None if m.get("llm_share") is None else round(m["llm_share"], 4),
            "first_latency_p50": _round(m.get("first_latency_p50")),
            "first_latency_p95": _round(m.get("first_latency_p95")),
            "latency_p50": _round(m.get("latency_p50")),
            "latency_p95": _round(m.get("latency_p95")),
            "tokens_per_s_p50": _round(m.get("tokens_per_s_p50")),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": command,
        }
        recorded.append(mode)
    if recorded:
        path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return recorded


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
