"""CLI: ``python -m evals [--questions FILE | --split NAME] [--mode M | --modes M1,M2] [--embeddings NAME]
[--retriever hybrid|dense|bm25] [--mirror DIR] [--out DIR] [--index DIR] [--no-compare]``,
``python -m evals calibrate [--embeddings NAME]`` (fits the evidence model on the training split,
see ``evals.calibrate``), ``python -m evals bench [--quick] --out DIR`` (performance beside the
naive pipeline, see ``evals.bench``) and ``python -m evals scale --out DIR`` (the scale
simulation alone).

Builds (or reuses, incrementally) one index per embeddings backend under the index root, runs
note-rag on the question file in each answer mode, compares retrievers, embeddings and the naive
LangChain baseline, then writes report.md, report.json and PNG charts into --out.
Exit codes: 0 the run completed (whatever the scores), 2 bad arguments, question file or index.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path


def _list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def parser() -> argparse.ArgumentParser:
    from .runner import BASELINE_EMBEDDINGS, DEFAULT_INDEX_ROOT, DEFAULT_OUT, EMBEDDINGS

    p = argparse.ArgumentParser(
        prog="python -m evals",
        description="Évalue note-rag sur un jeu de questions et compare les variantes (retrievers, embeddings, modes, baseline naïve).",
    )
    p.add_argument("--questions", default=None, help="fichier YAML de questions (défaut : evals/questions/train/note-and-barometer.yaml)")
    p.add_argument("--split", default=None,
                   help="questions et documents d'un découpage (evals/documents.toml) : train (ajustement), dev, sealed-N (lot scellé)")
    p.add_argument("--log", action="store_true",
                   help="ajoute le résultat au journal evals/LOG.md (un lot scellé n'est exécuté qu'une fois, avec --log)")
    p.add_argument("--sample", action="store_true",
                   help="avec --split : seulement la part du découpage dont les documents sont dans le dépôt (l'échantillon du garde-fou de CI)")
    p.add_argument("--corpus", default=None, help="dossier de documents interrogés à la place de corpus/sources.toml")
    p.add_argument("--mode", action="append", default=[], help="mode de réponse évalué (répétable) : extractive | local | openai | ollama")
    p.add_argument("--modes", type=_list, default=None,
                   help="modes séparés par des virgules (défaut : extractive, plus local s'il est installé ; "
                        "--modes extractive saute le mode local, lent)")
    p.add_argument("--embeddings", default="e5-small", help="embeddings du système principal (défaut : e5-small)")
    p.add_argument("--retriever", choices=("hybrid", "dense", "bm25"), default="hybrid", help="retriever utilisé pour répondre")
    p.add_argument("--mirror", help="dossier contenant les sources distantes (défaut : NOTE_RAG_MIRROR, sinon le cache .note-rag/sources)")
    p.add_argument("--out", default=None, help=f"dossier des rapports (défaut : {DEFAULT_OUT.relative_to(DEFAULT_OUT.parents[1])})")
    p.add_argument("--index", default=None,
                   help=f"racine des index d'évaluation, un sous-dossier par embeddings (défaut : {DEFAULT_INDEX_ROOT.relative_to(DEFAULT_INDEX_ROOT.parents[2])})")
    p.add_argument("--no-compare", action="store_true", help="ni autres embeddings ni baseline (les 3 retrievers restent comparés)")
    p.add_argument("--no-baseline", action="store_true", help="sans la baseline LangChain naïve")
    p.add_argument("--compare-embeddings", type=_list, default=list(EMBEDDINGS), help="backends comparés (virgules)")
    p.add_argument("--baseline-embeddings", type=_list, default=list(BASELINE_EMBEDDINGS), help="embeddings de la baseline (virgules)")
    p.add_argument("--slow-limit", type=int, default=None, help="nombre max. de questions pour les modes lents (local…), échantillon stratifié")
    p.add_argument("--depth", type=int, default=20, help="passages retrouvés pour hit@k et MRR (défaut : 20)")
    p.add_argument("--no-progress", action="store_true", help="sans barre de progression")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["calibrate"]:
        from ingest.settings import offline_environment

        offline_environment()
        from .calibrate import main as calibrate

        return calibrate(argv[1:])
    if argv[:1] == ["bench"]:
        from .bench import main as bench_main

        return bench_main(argv[1:])
    if argv[:1] == ["documents"]:
        from .documents import main as documents_main

        return documents_main(argv[1:])
    if argv[:1] == ["scale"]:
        from .scale import main as scale_main

        return scale_main(argv[1:])
    args = parser().parse_args(argv)

    from ingest.settings import offline_environment

    offline_environment()
    from .harness import DEFAULT_QUESTIONS, QuestionFileError, load_questions
    from .plots import all_plots
    from .report import write_reports
    from .runner import DEFAULT_INDEX_ROOT, DEFAULT_OUT, IndexUnusable, Options, default_mirror, run_evaluation

    corpus = Path(args.corpus).expanduser().resolve() if args.corpus else None
    split = documents = None
    if args.split:
        from .documents import DocumentMissing
        from .splits import SPLITS, in_repository_sample, missing_documents

        if args.split not in SPLITS:
            print(f"erreur : découpage inconnu « {args.split} » ({', '.join(SPLITS)})", file=sys.stderr)
            return 2
        split = SPLITS[args.split]
        questions_file = split.paths[0]
        questions = split.questions()
        if args.split.startswith("sealed"):
            from .log import logged

            when = logged(args.split)
            if when is None and not args.log:
                print(f"erreur : le lot scellé {args.split} n'a jamais été exécuté : sa seule exécution se fait avec --log "
                      "(elle est journalisée dans evals/LOG.md)", file=sys.stderr)
                return 2
            if when is not None:
                args.log = False
                print(f"[evals] {args.split} a été exécuté et journalisé le {when} : cette exécution le reproduit, sans le journaliser",
                      file=sys.stderr)
        if args.sample:
            documents, questions = in_repository_sample(split)
        elif missing_documents(split):
            absent = ", ".join(d.id for d in missing_documents(split))
            print(f"erreur : documents absents du cache ({absent}) : lancez « python -m evals documents »", file=sys.stderr)
            return 2
    else:
        questions_file = Path(args.questions or DEFAULT_QUESTIONS)
        try:
            questions = load_questions(questions_file)
        except QuestionFileError as error:
            print(f"erreur : {error}", file=sys.stderr)
            return 2
    modes = list(dict.fromkeys([*(args.modes or []), *args.mode])) or None
    out = Path(args.out).expanduser() if args.out else DEFAULT_OUT
    options = Options(
        questions_file=questions_file,
        questions=questions,
        modes=modes,
        embeddings=args.embeddings,
        retriever=args.retriever,
        mirror=default_mirror(args.mirror),
        out=out,
        index_root=Path(args.index).expanduser() if args.index else DEFAULT_INDEX_ROOT,
        compare=not args.no_compare,
        compare_embeddings=args.compare_embeddings,
        baseline=not args.no_baseline,
        baseline_embeddings=args.baseline_embeddings,
        slow_limit=args.slow_limit,
        depth=max(5, args.depth),
        progress=not args.no_progress,
        corpus=corpus,
        split=split,
        documents=documents,
    )
    try:
        run = run_evaluation(options)
    except IndexUnusable as error:
        print(f"erreur : {error}", file=sys.stderr)
        return 2
    except Exception as error:  # the index could not be built or opened: say it in one line
        from ingest.sources import SourceError
        from ingest.store import IndexProblem

        if isinstance(error, (SourceError, IndexProblem, ValueError)):
            print(f"erreur : {error}", file=sys.stderr)
            return 2
        raise
    run.command = "python -m evals " + shlex.join(argv) if argv else "python -m evals"
    out.mkdir(parents=True, exist_ok=True)
    plots = all_plots(run.results, out)
    md, js = write_reports(run, plots)
    main_result = run.main
    if main_result is not None:
        m = main_result.metrics
        def pct(value: float | None) -> str:
            return "n/d" if value is None else f"{value:.1%}".replace(".", ",")

        print(
            f"{main_result.name} : réponses justes {pct(m['answer_accuracy'])}, hit@5 {pct(m.get('hit@5'))}, "
            f"citations justes {pct(m['citation_accuracy'])}, abstention précision {pct(m['abstention_precision'])} "
            f"/ rappel {pct(m['abstention_recall'])}, {len(main_result.failures())} questions en échec"
        )
    if args.log and main_result is not None:
        from .log import append

        batch = args.split + ("-sample" if args.sample else "") if args.split else questions_file.stem
        print(f"journal : {append(batch, main_result, run.command)}")
    if args.split and not args.slow_limit and not args.sample:  # a full split: it decides make run's default mode
        from .modes import MEASURES, record

        recorded = record(args.split, run.results, run.command)
        if recorded:
            print(f"mesures du mode {', '.join(recorded)} sur {args.split} enregistrées dans {MEASURES}")
    print(f"rapport : {md} ({run.seconds:.0f} s) ; JSON : {js.name} ; graphiques : {', '.join(p.name for p in plots)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
