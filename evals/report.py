"""report.md (for a developer: what to fix) and report.json (everything, for tools)."""

from __future__ import annotations

import json
import platform
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .harness import DEFINITIONS, EvalResult
from .runner import Run


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"


def _sec(value: Any) -> str:
    return "n/a" if value is None else (f"{value:.2f}" if value < 10 else f"{value:.1f}")


def _cell(text: Any, limit: int | None = None) -> str:
    text = " ".join(str(text).split()).replace("|", "\\|")
    if limit and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def systems_table(results: list[EvalResult]) -> list[str]:
    rows = []
    for r in results:
        m = r.metrics
        rows.append(
            [
                r.name,
                m.get("n", 0),
                _pct(m.get("hit@1")),
                _pct(m.get("hit@5")),
                "n/a" if m.get("mrr") is None else f"{m['mrr']:.3f}",
                f"**{_pct(m.get('answer_accuracy'))}**",
                _pct(m.get("citation_accuracy")),
                _pct(m.get("abstention_precision")),
                _pct(m.get("abstention_recall")),
                _pct(m.get("unsupported_rate")),
                _pct(m.get("llm_share")) if m.get("llm_share") is not None else "–",
                _sec(m.get("first_latency_p50")),
                _sec(m.get("first_latency_p95")),
                _sec(m.get("latency_p50")),
                _sec(m.get("latency_p95")),
                "–" if not m.get("tokens_per_s_p50") else f"{m['tokens_per_s_p50']:.1f}",
            ]
        )
    return _table(
        ["system", "n", "hit@1", "hit@5", "MRR", "answer acc.", "citation acc.", "abst. precision", "abst. recall",
         "unsupported", "written by LLM", "first p50 s", "first p95 s", "final p50 s", "final p95 s", "tok/s"],
        rows,
    )


def retrieval_table(results: list[EvalResult]) -> list[str]:
    rows, seen = [], set()
    for r in results:
        for kind, m in r.retrieval.items():
            key = (r.config.get("system"), r.config.get("embeddings"), kind)
            if key in seen or not m.get("n"):
                continue
            seen.add(key)
            system = "naive LangChain (1000/100 chunks)" if r.config.get("system") == "naive" else "note-rag"
            depth = r.depth
            rows.append([system, r.config.get("embeddings_label", ""), kind, m["n"], _pct(m["hit@1"]), _pct(m["hit@5"]),
                         _pct(m.get(f"hit@{depth}")), f"{m['mrr']:.3f}", _pct(m["evidence@5"])])
    depth = results[0].depth if results else 10
    return _table(["system", "embeddings", "retriever", "n", "hit@1", "hit@5", f"hit@{depth}", f"MRR@{depth}", "evidence@5"], rows)


def category_table(results: list[EvalResult]) -> list[str]:
    answering = [r for r in results if r.metrics.get("n")]
    categories = list(dict.fromkeys(c for r in answering for c in r.per_category()))
    tables = {r.name: r.per_category() for r in answering}
    rows = []
    for c in categories:
        first = next((tables[r.name][c] for r in answering if c in tables[r.name]), {})
        rows.append([c, first.get("n", 0)] + [_pct(tables[r.name].get(c, {}).get("answer_accuracy")) for r in answering])
    return _table(["category", "n"] + [_cell(r.name) for r in answering], rows)


def detail_table(result: EvalResult) -> list[str]:
    rows = []
    for c, m in result.per_category().items():
        rows.append([c, m["n"], _pct(m.get("answer_accuracy")), _pct(m.get("citation_accuracy")), _pct(m.get("hit@5")),
                     _pct(m.get("abstention_recall")) if m.get("n_unanswerable") else "–", _pct(m.get("unsupported_rate")),
                     _sec(m.get("latency_p50"))])
    return _table(["category", "n", "answer acc.", "citation acc.", "hit@5", "abst. recall", "unsupported", "p50 s"], rows)


def failures_table(result: EvalResult, limit: int = 260) -> list[str]:
    rows = []
    for r in result.failures():
        got = "(abstained) " if r.abstained else ""
        got += r.answer if r.answer else (r.error or "")
        if r.cited_docs and not r.abstained:
            got += f" — cites {', '.join(dict.fromkeys(r.cited_docs))}"
        expected = ", ".join(f"« {e} »" for e in r.expected) if r.answerable else "abstain"
        rows.append([r.id, r.category, _cell(r.question, 160), _cell(expected), _cell(got, limit),
                     _cell(result.diagnose(r))])
    if not rows:
        return ["No failure."]
    return _table(["id", "category", "question", "expected", "got", "diagnosis"], rows)


def render_markdown(run: Run, plots: list[Path]) -> str:
    o = run.options
    questions = o.questions
    counts = Counter(q.category for q in questions)
    answerable = sum(q.answerable for q in questions)
    main = run.main
    lines = [
        "# note-rag — evaluation report",
        "",
        f"- **Date**: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} — Python {platform.python_version()}, {platform.machine()}",
        f"- **Command**: `{run.command}`",
        f"- **Runtime**: {run.seconds:.0f} s",
        f"- **Questions**: `{o.questions_file}` — {len(questions)} questions ({answerable} answerable, {len(questions) - answerable} to abstain on); "
        + ", ".join(f"{c} {n}" for c, n in counts.items()),
        f"- **Mirror**: {o.mirror or '(none: sources taken from the index cache)'}",
    ]
    for index in run.indexes:
        docs = ", ".join(f"{d['doc_id']} ({d['chunks']} chunks, {d['status']})" for d in index.documents)
        lines.append(f"- **Index {index.embeddings}**: `{index.index_dir}` — {index.chunks} chunks, {index.embedded} texts embedded this run; {docs}")
    for note in run.notes:
        lines.append(f"- **Note**: {note}")
    for qid, expected, why in run.checks:
        lines.append(f"- **Question-file check**: {qid} expects « {expected} »: {why}")
    lines.append("")
    if main is not None:
        m = main.metrics
        lines += [
            f"## Headline — {main.name}",
            "",
            f"answer accuracy **{_pct(m.get('answer_accuracy'))}** · retrieval recall hit@5 **{_pct(m.get('hit@5'))}** / "
            f"hit@{main.depth} {_pct(m.get(f'hit@{main.depth}'))} · MRR {m.get('mrr', 0) or 0:.3f} · "
            f"selection misses {_pct(m.get('selection_misses'))} (a relevant passage given, something else quoted) · "
            f"retrieval misses {_pct(m.get('retrieval_misses'))} · "
            f"citation accuracy {_pct(m.get('citation_accuracy'))} · abstention precision {_pct(m.get('abstention_precision'))} / "
            f"recall {_pct(m.get('abstention_recall'))} · unsupported figures {_pct(m.get('unsupported_rate'))} · "
            f"first cited answer p50 {_sec(m.get('first_latency_p50'))} s / p95 {_sec(m.get('first_latency_p95'))} s · "
            f"final answer p50 {_sec(m.get('latency_p50'))} s / p95 {_sec(m.get('latency_p95'))} s · "
            f"{len(main.failures())} failing question(s)",
            "",
        ]
    lines += ["## Systems compared (same questions, same metrics)", ""]
    lines += systems_table(run.results)
    lines += [
        "",
        "hit@1 / hit@5 / MRR are those of the retriever each system answers from. The naive baseline answers with its whole "
        "top chunk (1000 characters), which makes « expected string in the answer » easier than for a one-to-three-sentence "
        "answer, and it never abstains.",
        "",
        "## Retrieval: retrievers × embeddings",
        "",
    ]
    lines += retrieval_table(run.results)
    lines += ["", "## Answer accuracy by category", ""]
    lines += category_table(run.results)
    for result in run.results:
        if result.config.get("main_embeddings") and result.metrics.get("n"):
            lines += ["", f"### Detail — {result.name}", ""]
            lines += detail_table(result)
    for result in run.results:
        if result.config.get("main_embeddings") and result.metrics.get("n"):
            lines += ["", f"## Failures — {result.name} ({len(result.failures())})", ""]
            lines += failures_table(result)
    others = [r for r in run.results if not r.config.get("main_embeddings") and r.metrics.get("n")]
    if others:
        lines += ["", "## Failing question ids of the other systems", ""]
        for r in others:
            ids = [q.id for q in r.failures()]
            lines.append(f"- **{r.name}** ({len(ids)}): {', '.join(ids) or 'none'}")
    lines += ["", "## Metric definitions", ""]
    for term, definition in DEFINITIONS.items():
        lines.append(f"- **{term}**: {definition.format(depth=o.depth)}")
    lines.append("- Diagnosis « selection »: the missing string was in the passages given to the answerer; « retrieval »: it was not.")
    if plots:
        lines += ["", "## Plots", ""]
        lines += [f"![{p.stem}]({p.name})" for p in plots]
    return "\n".join(lines) + "\n"


def render_json(run: Run, plots: list[Path]) -> dict[str, Any]:
    o = run.options
    return {
        "command": run.command,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(run.seconds, 1),
        "questions_file": str(o.questions_file),
        "questions": len(o.questions),
        "options": {
            "modes": o.modes,
            "embeddings": o.embeddings,
            "retriever": o.retriever,
            "mirror": str(o.mirror) if o.mirror else None,
            "index_root": str(o.index_root),
            "compare": o.compare,
            "baseline": o.baseline,
            "slow_limit": o.slow_limit,
            "depth": o.depth,
        },
        "definitions": {k: v.format(depth=o.depth) for k, v in DEFINITIONS.items()},
        "indexes": [index.__dict__ for index in run.indexes],
        "notes": run.notes,
        "question_checks": [{"id": i, "expected": e, "problem": w} for i, e, w in run.checks],
        "plots": [p.name for p in plots],
        "summary": {r.name: {**r.metrics, "config": r.config} for r in run.results},
        "systems": [r.to_dict() for r in run.results],
    }


def write_reports(run: Run, plots: list[Path]) -> tuple[Path, Path]:
    out = run.options.out
    out.mkdir(parents=True, exist_ok=True)
    md, js = out / "report.md", out / "report.json"
    md.write_text(render_markdown(run, plots), encoding="utf-8")
    js.write_text(json.dumps(render_json(run, plots), ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    return md, js
