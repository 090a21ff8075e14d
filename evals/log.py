"""The evaluation log (``evals/LOG.md``): one dated entry per logged run, newest last.

A sealed batch is run once, at the end of the stop that wrote it, with ``--log``; its entry is
what the project reports. ``python -m evals --split sealed-N`` afterwards reproduces it (it says
so) and is not logged again. Train and dev runs may be logged too, to record the figures a stop
measured beside its sealed batch.
"""

from __future__ import annotations

import re
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .harness import EvalResult

LOG = Path(__file__).resolve().parent / "LOG.md"
HEADER = """# Evaluation log

Each entry is one logged run of `python -m evals --split NAME --log` (extractive mode unless
said): the date, the commit it ran on, the batch, answer accuracy, abstention precision and
recall, retrieval recall, and every category. A sealed batch is logged once, the first and only
time it runs; after that it is part of dev. Newest last.
"""


def commit() -> str:
    """The commit the run answered with (``+changes`` when the work tree differs from it)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], capture_output=True, text=True, check=True, cwd=LOG.parent).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, check=True, cwd=LOG.parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "inconnu"
    return f"{head}+changes" if dirty else head


def logged(batch: str, path: Path = LOG) -> str | None:
    """The date a batch was logged, or None."""
    if not path.exists():
        return None
    match = re.search(rf"^## (\S+) · {re.escape(batch)} ·", path.read_text(encoding="utf-8"), re.MULTILINE)
    return match.group(1) if match else None


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"


def entry(batch: str, result: EvalResult, command: str, note: str = "") -> str:
    m = result.metrics
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    lines = [
        f"## {date} · {batch} · commit {commit()}",
        "",
        f"`{command}` — {result.name}, {m['n']} questions ({m.get('n_unanswerable', 0)} unanswerable)",
        "",
        f"- answer accuracy **{_pct(m.get('answer_accuracy'))}**; abstention precision {_pct(m.get('abstention_precision'))}, "
        f"recall {_pct(m.get('abstention_recall'))}; citation accuracy {_pct(m.get('citation_accuracy'))}",
        f"- retrieval recall hit@5 {_pct(m.get('hit@5'))}, hit@{result.depth} {_pct(m.get(f'hit@{result.depth}'))}; "
        f"selection misses {_pct(m.get('selection_misses'))}, retrieval misses {_pct(m.get('retrieval_misses'))}",
        f"- first cited answer p50 / p95: {m.get('first_latency_p50') or 0:.2f} / {m.get('first_latency_p95') or 0:.2f} s",
        "",
        "| category | n | answer accuracy |",
        "|---|---:|---:|",
    ]
    for category, row in result.per_category().items():
        lines.append(f"| {category} | {row['n']} | {_pct(row.get('answer_accuracy'))} |")
    if note:
        lines += ["", note]
    return "\n".join(lines) + "\n"


def append(batch: str, result: EvalResult, command: str, note: str = "", path: Path = LOG) -> Path:
    text = path.read_text(encoding="utf-8") if path.exists() else HEADER
    path.write_text(text.rstrip("\n") + "\n\n" + entry(batch, result, command, note), encoding="utf-8")
    return path
