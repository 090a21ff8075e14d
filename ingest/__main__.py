"""CLI: ``python -m ingest [PATH ...] [--index DIR] [--embeddings NAME] [--mirror DIR] [--rebuild]``
and ``python -m ingest fetch [--mirror DIR]``. A thin shell over ``build_index`` / ``fetch_all``."""

from __future__ import annotations

import argparse
import sys

from .models import IngestReport
from .settings import get_settings, offline_environment

STATUS_FR = {"added": "ajouté", "updated": "mis à jour", "unchanged": "inchangé", "removed": "retiré", "failed": "ÉCHEC"}


def print_report(report: IngestReport, stream=sys.stdout) -> None:
    """The summary table: one line per document, then the totals."""
    width = max([len(d.doc_id or d.path) for d in report.documents] + [8])
    print(f"{'document':<{width}}  {'statut':<11} {'pages':>5} {'chunks':>6}  détail", file=stream)
    for doc in report.documents:
        detail = doc.error or "; ".join(doc.warnings)
        pages = "" if doc.pages is None else str(doc.pages)
        print(f"{(doc.doc_id or doc.path):<{width}}  {STATUS_FR[doc.status]:<11} {pages:>5} {doc.chunks:>6}  {detail}", file=stream)
    documents = sum(1 for d in report.documents if d.status not in ("failed", "removed"))
    pages = f", {report.pages} pages" if report.pages else ""  # only paginated formats have pages
    print(
        f"\n{documents} documents{pages}, {report.chunks_total} chunks "
        f"(ajoutés {report.chunks_added}, mis à jour {report.chunks_updated}, retirés {report.chunks_removed}, "
        f"inchangés {report.chunks_unchanged}) ; {report.chunks_embedded} embeddings calculés ; "
        f"{report.seconds:.1f} s ; index {report.index} (génération {report.generation}, {report.embeddings})",
        file=stream,
    )
    for doc in report.failed:
        print(f"erreur : {doc.path} : {doc.error}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    offline_environment()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["fetch"]:
        return fetch_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m ingest", description="Indexe le corpus dans Chroma.")
    parser.add_argument("paths", nargs="*", help="fichiers ou dossiers à ajouter (défaut : tout corpus/sources.toml)")
    parser.add_argument("--index", help="dossier de l'index (défaut : .note-rag/)")
    parser.add_argument("--embeddings", help="e5-small | use-multilingual | sentence-transformers:NOM_OU_CHEMIN")
    parser.add_argument("--mirror", help="dossier local contenant les sources distantes (hors ligne)")
    parser.add_argument("--rebuild", action="store_true", help="reconstruire l'index de zéro")
    parser.add_argument("--quiet", action="store_true", help="pas de barre de progression")
    args = parser.parse_args(argv)

    from .pipeline import build_index
    from .sources import SourceError
    from .store import IndexProblem

    try:
        settings = get_settings(index_dir=args.index, mirror=args.mirror, embeddings=args.embeddings)
        report = build_index(args.paths or None, settings=settings, rebuild=args.rebuild, progress=not args.quiet)
    except (SourceError, IndexProblem, ValueError) as error:
        print(f"erreur : {error}", file=sys.stderr)
        return 2
    print_report(report)
    return 0 if report.ok else 1


def fetch_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingest fetch", description="Télécharge les sources distantes.")
    parser.add_argument("--mirror", help="dossier local où prendre les fichiers, par nom (hors ligne)")
    parser.add_argument("--index", help="dossier de l'index (le cache des sources est dedans)")
    args = parser.parse_args(argv)
    from .sources import SourceError, fetch_all

    try:
        results = fetch_all(get_settings(mirror=args.mirror, index_dir=args.index))
    except SourceError as error:
        print(f"erreur : {error}", file=sys.stderr)
        return 2
    for source, path, error in results:
        if error:
            print(f"erreur : {error}", file=sys.stderr)
        else:
            print(f"{source.id} : {path}")
    return 1 if any(error for _, _, error in results) else 0


if __name__ == "__main__":
    sys.exit(main())
