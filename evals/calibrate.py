"""``python -m evals calibrate``: fit retrieval's fusion and the evidence model on the training split.

1. Build (or reuse) the index of the training corpus with the chosen embeddings.
2. Fit the fusion of the dense and BM25 rankings: the RRF constant k from a grid, for the most
   training questions with a passage that answers among the first five retrieved, then the
   best mean reciprocal rank (ties: the larger k, the gentler fusion). Written to
   ``assistant/weights/<backend>.retrieval.json``; the evidence model is fitted on what that
   retrieval returns.
3. For every training question, gather the candidate units exactly as the assistant does
   (``Assistant.gather``) and label each: it answers when it holds one of the question's
   expected strings and comes from one of its source documents.
4. Fit the ranker: a linear score over the standardised features whose softmax within each
   question puts the probability on the units that answer (conditional logit, L2, Newton
   steps with a line search, numpy). The L2 strength is chosen by 5-fold cross-validation
   over questions (held-out top-1 accuracy, then log-likelihood). A signal that tells
   candidates apart only in questions of one fold is not weighed (weight 0, listed in the
   file's ``unfitted_features``): cross-validation could not check its weight.
5. Fit the gate: a logistic model, on the best candidate's signals, of "a unit that answers
   was found" (unanswerable questions: no); it reads out-of-fold ranker scores, so it learns
   from scores like those it will see on new questions.
6. Grid-search the abstention threshold and the two quoting ratios for the best answer
   accuracy on the training questions: the threshold in the middle of the range that reaches
   it, the ratios giving the shorter answers among ties.
7. Write ``assistant/weights/<backend>.json``.

Deterministic: no sampling, fixed folds and grids, sorted inputs; running it again on the same
index gives the same file.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from assistant.reader import FEATURES, Gathered, ReaderModel, Span, feature_matrix, gate_row, merge_parts, score, select, standardise, usable_spans
from assistant.figures import contains
from assistant.fitted import fitted_file

from .harness import Question, first_relevant_rank, passage_doc_and_text
from .splits import SPLITS, build_split_index

FOLDS = 5  # cross-validation folds, whole documents held out (``document_folds``)
L2_GRID = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)
GATE_L2_GRID = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
THRESHOLDS = tuple(round(x, 3) for x in np.arange(0.02, 0.96, 0.02))
# A short answer: the quoting ratios are chosen for the best accuracy among those quoting, on
# average, at most three units (sentences, list parts, table rows) per answered question: what a
# reader takes in at a glance. Quoting more always finds more expected facts somewhere in the
# answer, and would be chosen without this bound.
MEAN_UNITS_BUDGET = 3.0
EXTEND_RATIOS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.01)  # 1.01: never
RRF_GRID = (5, 10, 15, 20, 30, 40, 60, 100)  # 60: the constant of the original RRF paper
RETRIEVAL_DEPTH = 10


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


def fit_logistic(x: np.ndarray, y: np.ndarray, weight: np.ndarray, l2: float, iterations: int = 100) -> tuple[np.ndarray, float]:
    """Weighted L2 logistic regression by Newton's method (the bias is not penalised)."""
    n, d = x.shape
    xb = np.hstack([x, np.ones((n, 1))])
    w = np.zeros(d + 1)
    penalty = np.r_[np.full(d, l2), 0.0]
    for _ in range(iterations):
        p = _sigmoid(xb @ w)
        gradient = xb.T @ (weight * (p - y)) + penalty * w
        hessian = xb.T @ (xb * (weight * p * (1 - p))[:, None]) + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-9:
            break
    return w[:d], float(w[d])


def document_folds(questions: list[Question], folds: int = FOLDS) -> np.ndarray:
    """Each question's cross-validation fold, all the questions of one document in one fold.

    The product meets documents it was never fitted on. Folds that split one document's
    questions let the fit learn that document's wording and layout in the other folds, so the
    held-out scores read like a known document's, and the L2 strengths, the threshold and the
    quoting ratios chosen on them suit the training documents, not new ones (sealed batches
    scored 5–10 points under dev). Documents, largest first, go to the fold with the fewest
    questions; a question with no source document (out of corpus) goes by its number.
    """
    by_doc: dict[str, list[int]] = {}
    loose: list[int] = []
    for index, q in enumerate(questions):
        if q.sources:
            by_doc.setdefault(q.sources[0], []).append(index)
        else:
            loose.append(index)
    fold_of = np.zeros(len(questions), dtype=int)
    sizes = [0] * folds
    for doc in sorted(by_doc, key=lambda d: (-len(by_doc[d]), d)):
        fold = min(range(folds), key=lambda f: (sizes[f], f))
        fold_of[by_doc[doc]] = fold
        sizes[fold] += len(by_doc[doc])
    for index in loose:
        fold_of[index] = index % folds
    return fold_of


def choose_gate_l2(x: np.ndarray, y: np.ndarray, owners: np.ndarray, folds: int = FOLDS) -> tuple[float, dict[float, float]]:
    """The gate's L2 strength: the best held-out (balanced) log-likelihood over the folds
    (``owners``: each row's fold)."""
    results: dict[float, float] = {}
    for l2 in GATE_L2_GRID:
        loss, total = 0.0, 0.0
        for fold in range(folds):
            held = owners == fold
            if not held.any() or held.all():
                continue
            w, b = fit_logistic(x[~held], y[~held], _balanced(y[~held]), l2)
            p = np.clip(_sigmoid(x[held] @ w + b), 1e-9, 1 - 1e-9)
            weight = _balanced(y)[held]
            loss += float(-(weight * (y[held] * np.log(p) + (1 - y[held]) * np.log(1 - p))).sum())
            total += float(weight.sum())
        results[l2] = loss / max(total, 1e-9)
    best = min(GATE_L2_GRID, key=lambda l2: (round(results[l2], 6), -l2))
    return best, results


def _balanced(y: np.ndarray) -> np.ndarray:
    """Sample weights that give both classes the same total weight."""
    positives = max(1.0, float(y.sum()))
    negatives = max(1.0, float(len(y) - y.sum()))
    return np.where(y == 1, len(y) / (2 * positives), len(y) / (2 * negatives))


def _ranker_objective(w: np.ndarray, groups: list[tuple[np.ndarray, np.ndarray]], l2: float):
    """Negative log-likelihood of the answering units under each question's softmax, L2 added."""
    value = 0.5 * l2 * float(w @ w)
    gradient = l2 * w
    hessian = l2 * np.eye(len(w))
    for x, y in groups:
        s = x @ w
        p = np.exp(s - s.max())
        p /= p.sum()
        # the answering spans' share, in the log domain: it may underflow when they score low
        top = s[y > 0].max()
        log_mass = top + math.log(float(np.exp(s[y > 0] - top).sum())) - (s.max() + math.log(float(np.exp(s - s.max()).sum())))
        q = np.where(y > 0, np.exp(s - top), 0.0)
        q /= q.sum()
        value -= log_mass
        gradient = gradient + x.T @ (p - q)
        mean = x.T @ p
        hessian = hessian + (x * p[:, None]).T @ x - np.outer(mean, mean)
    return value, gradient, hessian


def fit_ranker(groups: list[tuple[np.ndarray, np.ndarray]], l2: float, iterations: int = 60) -> np.ndarray:
    """Conditional logit by Newton steps (Fisher information as curvature) with backtracking."""
    w = np.zeros(groups[0][0].shape[1])
    value, gradient, hessian = _ranker_objective(w, groups, l2)
    for _ in range(iterations):
        step = np.linalg.solve(hessian, gradient)
        t = 1.0
        while True:
            trial = w - t * step
            new_value, new_gradient, new_hessian = _ranker_objective(trial, groups, l2)
            if new_value <= value - 1e-4 * t * float(gradient @ step) or t < 1e-4:
                break
            t /= 2
        w, converged = trial, abs(value - new_value) < 1e-9
        value, gradient, hessian = new_value, new_gradient, new_hessian
        if converged:
            break
    return w


def label(question: Question, text: str, doc_id: str) -> bool:
    """A text answers when it holds one of the expected strings and comes from a source document."""
    return coverage(question, text, doc_id) > 0


def coverage(question: Question, text: str, doc_id: str) -> int:
    """How many of the question's expected strings a text from ``doc_id`` holds."""
    if not question.answerable or not question.expect:
        return 0
    if question.sources and doc_id not in question.sources:
        return 0
    return sum(contains(text, expected) for expected in question.expect)


def span_labels(question: Question, found: list[Span]) -> np.ndarray:
    """1 for the spans that answer best: they hold as many expected strings as any span does,
    end with a unit that holds one, and open with at most one unit that holds none (the claim
    a reason explains, the topic sentence before the figure, the name above the role: what an
    answer may state before the fact). Longer spans say more than the answer."""
    if not found or not question.answerable or not question.expect:
        return np.zeros(len(found))
    counts = np.array([coverage(question, s.text, s.anchor.chunk.doc_id) for s in found])
    best = counts.max()
    labels = np.zeros(len(found))
    if best == 0:
        return labels
    for i, span in enumerate(found):
        if counts[i] != best:
            continue
        holds = [coverage(question, u.text, u.chunk.doc_id) > 0 for u in span.units]
        if not holds[-1]:
            continue
        leading = holds.index(True)
        if leading <= 1:
            labels[i] = 1.0
    if not labels.any():  # the expected strings are spread so that no span ends on one alone
        labels[counts == best] = 1.0
    return labels


def gather_all(assistant, questions: list[Question], progress: bool = True) -> list[Gathered]:
    gathered = []
    for number, q in enumerate(questions, start=1):
        gathered.append(assistant.gather(q.question, history=q.history))
        if progress:
            print(f"\r[calibrate] candidats {number}/{len(questions)}", end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    return gathered


@dataclass
class Group:
    """The candidates of one (sub-)question: features, labels, and the question they belong to."""

    question: int
    fold: int  # its question's cross-validation fold (``document_folds``)
    rows: np.ndarray
    labels: np.ndarray
    whole: bool  # the whole question, not one part of a compound one


def groups_of(questions: list[Question], gathered: list[Gathered], fold_of: np.ndarray) -> list[Group]:
    groups = []
    for index, (q, g) in enumerate(zip(questions, gathered)):
        for whole, found in [(True, g.spans)] + [(False, s) for _, _, s in g.parts]:
            if found:
                groups.append(Group(index, int(fold_of[index]), feature_matrix(found), span_labels(q, found), whole))
    return groups


def thinly_supported(groups: list[Group], folds: int = FOLDS) -> list[int]:
    """Features whose weight cross-validation cannot check: they tell candidates apart only in
    training questions of a single fold (often a single question).

    The folds that train on such a signal never hold it out, and the fold that holds it out
    trains without it, so the L2 strength chosen by cross-validation says nothing about its
    weight. A weakly regularised fit then gives it a large weight learnt from a handful of
    candidates (a follow-up's link to the previous answer, where the training histories hold one
    such case, got -3.9 and buried the answer next to the previous one). Left at 0 until the
    training split exercises it in two folds.
    """
    varying: list[set[int]] = [set() for _ in FEATURES]
    for g in groups:
        if not g.labels.any():  # the ranker learns from questions with an answering unit only
            continue
        with warnings.catch_warnings():  # a signal undefined (NaN) for every candidate: no spread
            warnings.simplefilter("ignore", RuntimeWarning)
            spread = np.nanmax(g.rows, axis=0) - np.nanmin(g.rows, axis=0)
        for i in np.flatnonzero(np.nan_to_num(spread) > 1e-9):
            varying[i].add(g.fold)
    return [i for i, seen_in in enumerate(varying) if len(seen_in) < 2]


def choose_l2(groups: list[Group], folds: int = FOLDS) -> tuple[float, dict[float, tuple[float, float]], dict[int, np.ndarray]]:
    """The ranker's L2 strength (best held-out top-1 accuracy, then log-likelihood), and for that
    strength the out-of-fold scores of every group (what the gate learns from)."""
    results: dict[float, tuple[float, float]] = {}
    out_of_fold: dict[float, dict[int, np.ndarray]] = {}
    for l2 in L2_GRID:
        hits, total, loglik = 0, 0, 0.0
        out_of_fold[l2] = {}
        for fold in range(folds):
            train = [(g.rows, g.labels) for g in groups if g.fold != fold and g.labels.any()]
            w = fit_ranker(train, l2)
            for number, g in enumerate(groups):
                if g.fold != fold:
                    continue
                s = g.rows @ w
                out_of_fold[l2][number] = s
                if g.labels.any() and g.whole:
                    p = np.exp(s - s.max())
                    p /= p.sum()
                    hits += bool(g.labels[int(np.argmax(s))])
                    loglik += math.log(max(float(p[g.labels > 0].sum()), 1e-300))
                    total += 1
        results[l2] = (hits / max(1, total), loglik / max(1, total))
    best = max(L2_GRID, key=lambda l2: (round(results[l2][0], 6), round(results[l2][1], 6), l2))
    return best, results, out_of_fold[best]


@dataclass
class Outcome:
    """How one training question fares under given quoting ratios: its gate support and
    whether its answer is right when it answers (abstaining is right when it is unanswerable)."""

    support: float
    right_if_answered: bool
    answerable: bool
    units: int


def outcomes(questions: list[Question], gathered: list[Gathered], models: list[ReaderModel]) -> list[Outcome]:
    """Each question answered with its own model (spans already scored by it), whatever the
    threshold: the gate's support does not depend on the quoting ratios, so thresholds are then
    tried on these outcomes without selecting again."""
    found: list[Outcome] = []
    for q, g, model in zip(questions, gathered, models):
        open_model = replace(model, abstain_below=0.0)
        if g.parts:
            selection = merge_parts([(part.asked, select(part, spans, open_model, max_spans=1)) for part, _, spans in g.parts])
        else:
            selection = select(g.question, g.spans, open_model)
        text = " ".join(e.text for e in selection.evidence)
        right = (not selection.abstain) and q.answerable and all(contains(text, e) for e in q.expect)
        # with no threshold, only a question no span may answer abstains (another year's spans)
        found.append(Outcome(-1.0 if selection.abstain else selection.support, right, q.answerable, len(selection.evidence)))
    return found


def accuracy_at(found: list[Outcome], threshold: float) -> tuple[float, float]:
    """(answer accuracy, mean quoted units of the answerable questions) at an abstention threshold."""
    correct = sum((o.right_if_answered if o.support >= threshold else not o.answerable) for o in found)
    units = sum(o.units for o in found if o.answerable and o.support >= threshold)
    return correct / len(found), units / max(1, sum(o.answerable for o in found))


def _gate_rows(
    groups: list[Group], scores: dict[int, np.ndarray], spans_of: dict[int, list[Span]], gathered: list[Gathered]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gate inputs of the whole questions, read as ``select`` reads them (its usable spans, by
    the given scores), their labels and the questions they belong to. Questions ``select``
    declines before the gate are left out."""
    rows, labels, owners = [], [], []
    for number, g in enumerate(groups):
        if not g.whole:
            continue
        found = spans_of[number]
        for span, value in zip(found, scores[number]):
            span.score = float(value)
        ranked = sorted(found, key=lambda s: -s.score)
        usable, _ = usable_spans(gathered[g.question].question, ranked)
        if not usable:
            continue
        rows.append(gate_row(usable))
        labels.append(float(g.labels.any()))
        owners.append(g.question)
    return np.array(rows), np.array(labels), np.array(owners)


def fit_fusion(assistant, questions: list[Question], out: Path, progress: bool = True) -> dict:
    """Fit the RRF constant on the training questions that have an answer in a known source;
    set it on ``assistant``'s retriever and write it to ``out``."""
    scored = [q for q in questions if q.answerable and q.source]
    results: dict[int, tuple[float, float]] = {}
    for k in RRF_GRID:
        assistant.retriever.rrf_k = k
        ranks = []
        for q in scored:
            passages = assistant.retrieve(q.question, history=q.history, k=RETRIEVAL_DEPTH, kind="hybrid")
            ranks.append(first_relevant_rank([passage_doc_and_text(p) for p in passages], q))
        hit5 = sum(1 for r in ranks if r is not None and r <= 5) / len(ranks)
        mrr = sum(1 / r for r in ranks if r) / len(ranks)
        results[k] = (round(hit5, 6), round(mrr, 6))
        if progress:
            print(f"[calibrate] fusion k={k}: hit@5 {hit5:.1%}, MRR {mrr:.3f}", file=sys.stderr, flush=True)
    best = max(RRF_GRID, key=lambda k: (*results[k], k))
    assistant.retriever.rrf_k = best
    fusion = {
        "version": 1,
        "backend": assistant.retriever.embeddings.name,
        "rrf_k": best,
        "fitted_by": "python -m evals calibrate",
        "fitted_on": {"split": "train", "questions": len(scored), "depth": RETRIEVAL_DEPTH},
        "train_hit_at_5_and_mrr": {str(k): list(v) for k, v in results.items()},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(fusion, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return {"file": str(out), **fusion}


def calibrate(embeddings: str, index_root: Path, out: Path | None = None, progress: bool = True) -> dict:
    from assistant import Assistant

    split = SPLITS["train"]
    settings, report = build_split_index(split, index_root, embeddings, progress=progress)
    if not report.ok:
        raise RuntimeError("; ".join(f"{d.doc_id}: {d.error}" for d in report.failed))
    questions = split.questions()
    assistant = Assistant(settings=settings, mode="extractive")
    backend = assistant.retriever.embeddings.name
    fusion = fit_fusion(assistant, questions, out.with_name(f"{out.stem}.retrieval.json") if out else fitted_file(backend, "retrieval"), progress)
    gathered = gather_all(assistant, questions, progress)
    return {**fit(backend, embeddings, questions, gathered, out, tuple(str(p.relative_to(p.parents[2])) for p in split.paths)), "fusion": fusion}


def fit(backend: str, embeddings: str, questions: list[Question], gathered: list[Gathered], out: Path | None = None, files: tuple[str, ...] = ()) -> dict:
    """Fit ranker, gate and thresholds on gathered training questions; write and return the model."""
    fold_of = document_folds(questions)
    groups = groups_of(questions, gathered, fold_of)
    spans_of: dict[int, list[Span]] = {}
    number = 0
    for g in gathered:
        for found in [g.spans] + [s for _, _, s in g.parts]:
            if found:
                spans_of[number] = found
                number += 1
    stacked = np.vstack([g.rows for g in groups])
    mean, scale = np.nanmean(stacked, axis=0), np.nanstd(stacked, axis=0)
    scale[~(scale > 1e-9)] = 1.0
    unfitted = thinly_supported(groups)
    for g in groups:
        g.rows = standardise(g.rows, mean, scale)
        g.rows[:, unfitted] = 0.0  # its weight stays 0: the ranker ignores it
    l2, results, out_of_fold = choose_l2(groups)
    weights = fit_ranker([(g.rows, g.labels) for g in groups if g.labels.any()], l2)

    gate_x, gate_y, gate_q = _gate_rows(groups, out_of_fold, spans_of, gathered)
    gate_mean, gate_scale = np.nanmean(gate_x, axis=0), np.nanstd(gate_x, axis=0)
    gate_scale[~(gate_scale > 1e-9)] = 1.0
    gate_z = standardise(gate_x, gate_mean, gate_scale)
    gate_l2, gate_l2_results = choose_gate_l2(gate_z, gate_y, fold_of[gate_q])
    gate_weights, gate_bias = fit_logistic(gate_z, gate_y, _balanced(gate_y), gate_l2)
    model = ReaderModel(backend, mean, scale, weights, gate_mean, gate_scale, gate_weights, gate_bias, 0.5, 1.01, 1.01)

    # The threshold and the quoting ratio are chosen on answers to questions the ranker and the
    # gate did not learn from: each training question is answered by the models fitted on the
    # other folds. In-sample scores are more confident than those of new questions, and a
    # threshold chosen on them abstains too often on new documents.
    fold_models: list[ReaderModel] = []
    for fold in range(FOLDS):
        w_fold = fit_ranker([(g.rows, g.labels) for g in groups if g.fold != fold and g.labels.any()], l2)
        keep = fold_of[gate_q] != fold
        gw, gb = fit_logistic(gate_z[keep], gate_y[keep], _balanced(gate_y[keep]), gate_l2)
        fold_models.append(ReaderModel(backend, mean, scale, w_fold, gate_mean, gate_scale, gw, gb, 0.5, 1.01, 1.01))
    answering = [fold_models[fold_of[index]] for index in range(len(questions))]
    for g, fold_model in zip(gathered, answering):  # scores once; only the thresholds vary below
        g.spans[:] = score(g.spans, fold_model)
        for _, _, found in g.parts:
            found[:] = score(found, fold_model)
    # The quoting ratios, then the threshold: each pair of ratios with its best threshold (ties:
    # shorter answers). The threshold is the middle of the range that reaches the best accuracy,
    # not its edge: a tie-break on answer length would push it to the highest threshold that
    # still scores, abstaining on every new question slightly less supported than the training ones.
    # The support an extra span needs, up to quoting none (1.01); only values at or above the
    # threshold are kept (below): a span quoted beside the best is one the
    # assistant would answer with alone, not a loosely related passage of another document that
    # merely raises the odds of holding an expected string (its quote would open the answer when
    # its document is newer).
    extra_grid = (*THRESHOLDS[::2], 1.01)
    best_key, best_choice = None, None
    for extend in EXTEND_RATIOS:
        for extra in extra_grid:
            found = outcomes(questions, gathered, [replace(m, extra_support=extra, extend_ratio=extend) for m in answering])
            scored = [(accuracy_at(found, t), t) for t in THRESHOLDS]
            top = max(round(a, 6) for (a, _), _ in scored)
            reaching = [t for (a, _), t in scored if round(a, 6) == top]
            threshold = reaching[(len(reaching) - 1) // 2]
            accuracy, units = accuracy_at(found, threshold)
            key = (round(accuracy, 6), -round(units, 6))
            if units > MEAN_UNITS_BUDGET:
                continue  # longer answers would say more than a reader takes in
            if extra < threshold:
                continue  # a span quoted beside the best must be one the assistant would answer with alone
            if best_key is None or key > best_key:
                best_key, best_choice = key, (threshold, extra, extend)
    assert best_choice is not None and best_key is not None
    threshold, extra, extend = best_choice
    accuracy = best_key[0]
    model = replace(model, abstain_below=threshold, extra_support=float(extra), extend_ratio=extend)
    model.meta = {
        "fitted_by": "python -m evals calibrate" + (f" --embeddings {embeddings}" if embeddings != "e5-small" else ""),
        "fitted_on": {
            "split": "train", "files": list(files), "questions": len(questions),
            "spans": int(sum(len(g.labels) for g in groups)), "answering_spans": int(sum(g.labels.sum() for g in groups)),
        },
        "l2": l2,
        "gate_l2": gate_l2,
        "gate_cv_log_loss": {str(k): round(v, 4) for k, v in gate_l2_results.items()},
        "unfitted_features": [FEATURES[i] for i in unfitted],
        "cv_top1_accuracy": {str(k): round(v[0], 4) for k, v in results.items()},
        "train_answer_accuracy_out_of_fold": round(accuracy, 4),
    }
    target = out or fitted_file(model.backend)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(model.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return {"file": str(target), **model.to_json()}


def main(argv: list[str]) -> int:
    from .runner import DEFAULT_INDEX_ROOT

    parser = argparse.ArgumentParser(prog="python -m evals calibrate", description="Ajuste le modèle de sélection des passages sur le jeu d'entraînement.")
    parser.add_argument("--embeddings", default="e5-small", help="backend d'embeddings (défaut : e5-small)")
    parser.add_argument("--index", default=None, help="racine des index d'évaluation")
    parser.add_argument("--out", default=None, help="fichier de poids (défaut : assistant/weights/<backend>.json)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    result = calibrate(
        args.embeddings,
        Path(args.index).expanduser() if args.index else DEFAULT_INDEX_ROOT,
        Path(args.out) if args.out else None,
        progress=not args.no_progress,
    )
    fusion = result["fusion"]
    print(f"fusion écrite dans {fusion['file']} : k = {fusion['rrf_k']} (hit@5, MRR d'entraînement {fusion['train_hit_at_5_and_mrr'][str(fusion['rrf_k'])]})")
    print(f"poids écrits dans {result['file']}")
    print(f"  abstention sous p = {result['abstain_below']}, autre extrait cité s'il répond seul à p = {result['extra_support']}, "
          f"extrait prolongé à {result['extend_ratio']} × le meilleur")
    print(f"  L2 = {result['l2']}, exactitude d'entraînement hors pli {result['train_answer_accuracy_out_of_fold']:.1%}, {result['fitted_on']['spans']} extraits candidats")
    print("  classement :")
    for name, weight in sorted(zip(result["features"], result["weights"]), key=lambda item: -abs(item[1])):
        print(f"    {name:>18} {weight:+.3f}")
    print("  seuil de réponse :")
    for name, weight in zip(result["gate_features"], result["gate_weights"]):
        print(f"    {name:>18} {weight:+.3f}")
    return 0
