"""PNG charts of an evaluation run (matplotlib, headless).

Each function takes the ``EvalResult`` objects of the run and writes one file; ``all_plots``
writes every chart that has data and returns their paths.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from .harness import EvalResult


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _answering(results: Sequence[EvalResult]) -> list[EvalResult]:
    return [r for r in results if any(q.answered for q in r.results)]


def accuracy_by_category(results: Sequence[EvalResult], path: Path) -> Path | None:
    systems = _answering(results)
    if not systems:
        return None
    plt = _pyplot()
    categories = list(dict.fromkeys(c for r in systems for c in r.per_category()))
    width = 0.8 / len(systems)
    fig, ax = plt.subplots(figsize=(max(8, 1.3 * len(categories) + 2), 4.8))
    for i, result in enumerate(systems):
        table = result.per_category()
        values = [(table.get(c, {}).get("answer_accuracy") or 0) * 100 for c in categories]
        positions = [x + (i - (len(systems) - 1) / 2) * width for x in range(len(categories))]
        ax.bar(positions, values, width, label=result.name)
    counts = systems[0].per_category()
    ax.set_xticks(range(len(categories)), [f"{c}\n(n={counts.get(c, {}).get('n', 0)})" for c in categories], fontsize=8)
    ax.set_ylabel("answer accuracy (%)")
    ax.set_ylim(0, 105)
    ax.set_title("Answer accuracy by category")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    ax.grid(axis="y", alpha=0.3)
    return _save(plt, fig, path)


def _save(plt, fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def latency(results: Sequence[EvalResult], path: Path) -> Path | None:
    systems = [r for r in _answering(results) if any(q.latency for q in r.results)]
    if not systems:
        return None
    plt = _pyplot()
    data = [[max(q.latency, 1e-4) for q in r.results if q.latency is not None] for r in systems]
    fig, ax = plt.subplots(figsize=(9, 0.6 * len(systems) + 2))
    ax.boxplot(data, vert=False, showfliers=True)
    for i, values in enumerate(data, start=1):
        ax.scatter(values, [i] * len(values), s=8, alpha=0.35)
    ax.set_yticks(range(1, len(systems) + 1), [r.name for r in systems], fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("seconds per question (log scale)")
    ax.set_title("Latency distribution of ask()")
    ax.grid(axis="x", alpha=0.3)
    return _save(plt, fig, path)


def hit_at_k(results: Sequence[EvalResult], path: Path) -> Path | None:
    curves = []
    seen = set()
    for result in results:
        for kind, metrics in result.retrieval.items():
            label = f"{result.config.get('embeddings_label', '')} {kind}".strip()
            if result.config.get("system") == "naive":
                label = f"naive LangChain ({result.config.get('embeddings_label', '')}, 1000-char chunks)"
            if metrics.get("curve") and label not in seen:
                seen.add(label)
                curves.append((label, kind, result.config.get("system"), result.config.get("main_embeddings"), metrics["curve"]))
    if not curves:
        return None
    plt = _pyplot()
    styles = {"hybrid": "-", "dense": "--", "bm25": ":"}
    fig, ax = plt.subplots(figsize=(9, 5))
    for label, kind, system, main, curve in curves:
        ks = range(1, len(curve) + 1)
        if system == "naive":
            ax.plot(ks, [v * 100 for v in curve], "-.", marker="x", color="grey" if "MiniLM" in label else "black", label=label, linewidth=1.2)
        else:
            ax.plot(ks, [v * 100 for v in curve], styles.get(kind, "-"), marker="o" if main else None, markersize=3,
                    linewidth=2.2 if main else 1.0, alpha=1 if main else 0.7, label=label)
    ax.set_xlabel("k (passages retrieved)")
    ax.set_ylabel("hit@k (%)")
    ax.set_ylim(0, 102)
    ax.set_xticks(range(1, len(curves[0][4]) + 1))
    ax.set_title("Retrieval hit@k per retriever and embeddings")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right", ncol=2)
    return _save(plt, fig, path)


def systems_comparison(results: Sequence[EvalResult], path: Path) -> Path | None:
    systems = _answering(results)
    if len(systems) < 1:
        return None
    plt = _pyplot()
    keys = [("answer_accuracy", "answer accuracy"), ("citation_accuracy", "citation accuracy"), ("hit@5", "hit@5"), ("abstention_recall", "abstention recall")]
    fig, ax = plt.subplots(figsize=(9, 1.1 * len(systems) + 1.6))
    height = 0.8 / len(keys)
    for j, (key, label) in enumerate(keys):
        values = [(r.metrics.get(key) or 0) * 100 for r in systems]
        positions = [i + (j - (len(keys) - 1) / 2) * height for i in range(len(systems))]
        ax.barh(positions, values, height, label=label)
    ax.set_yticks(range(len(systems)), [r.name for r in systems], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("%")
    ax.set_title("What each design choice gains (same questions, same metrics)")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    return _save(plt, fig, path)


def all_plots(results: Sequence[EvalResult], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = [
        accuracy_by_category(results, out / "accuracy_by_category.png"),
        latency(results, out / "latency.png"),
        hit_at_k(results, out / "hit_at_k.png"),
        systems_comparison(results, out / "systems.png"),
    ]
    return [p for p in written if p is not None]


# ----------------------------------------------------------------------------------------------
# benchmark (python -m evals bench / scale)


def scale_plot(rows: Sequence[dict], path: Path) -> Path:
    """Retrieval p95, start-up, memory and adding a document against corpus size, per backend,
    with the goals drawn where there is one."""
    plt = _pyplot()
    panels = [
        ("retrieval_p95_ms", "retrieval p95 (ms)", 50.0),
        ("startup_s", "start-up, cached (s)", 5.0),
        ("rss_mb", "reader peak RSS (MB)", None),
        ("add_document_s", "add one document (s)", 10.0),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    backends = list(dict.fromkeys(r["backend"] for r in rows))
    for ax, (key, label, goal) in zip(axes.flat, panels):
        for backend in backends:
            points = sorted((r["chunks"], r[key]) for r in rows if r["backend"] == backend)
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=backend)
            if key == "startup_s":
                cold = sorted((r["chunks"], r["startup_cold_s"]) for r in rows if r["backend"] == backend)
                ax.plot([p[0] for p in cold], [p[1] for p in cold], linestyle=":", marker="x", label=f"{backend}, empty cache")
        if goal is not None:
            ax.axhline(goal, color="red", linestyle="--", linewidth=1, label="goal at 100k")
        ax.set_xscale("log")
        ax.set_xlabel("chunks")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("Scale simulation (stand-in embedder: hashing:384)")
    return _save(plt, fig, path)


def bench_plot(panels: Sequence[tuple[str, dict[str, float | None]]], path: Path) -> Path:
    """One small panel per measure, a bar per system (note-rag, naive pipeline)."""
    plt = _pyplot()
    columns = 3
    rows = max(1, (len(panels) + columns - 1) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(11, 2.6 * rows + 0.6))
    flat = list(axes.flat) if hasattr(axes, "flat") else [axes]
    colours = {"note-rag": "#2b6cb0", "naive": "#a0a0a0"}
    for ax, (title, values) in zip(flat, panels):
        shown = [(name, value) for name, value in values.items() if value is not None]
        ax.bar([n for n, _ in shown], [v for _, v in shown], color=[colours.get(n.split(" ")[0], "#6b8e23") for n, _ in shown])
        for i, (_, value) in enumerate(shown):
            ax.annotate(f"{value:.3g}", (i, value), ha="center", va="bottom", fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.tick_params(axis="x", labelsize=8)
        ax.margins(y=0.2)
        ax.grid(axis="y", alpha=0.3)
    for ax in flat[len(panels):]:
        ax.axis("off")
    fig.suptitle("note-rag beside the naive LangChain pipeline (same corpus, same machine)")
    return _save(plt, fig, path)
