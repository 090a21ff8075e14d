"""CLI: ``python -m assistant [--index DIR] [--mode M] [--json] "question"``, and
``python -m assistant hash-password [UTILISATEUR]`` (a line for the UI's users file).

A thin layer over ``Assistant.stream``: the first (cited) answer is printed at once; in an LLM
mode the written answer follows when it passed the checks; then the sources of the final answer.
``--json`` prints the final answer only.
Exit codes: 0 answered, 3 abstained, 2 bad input or no index.
"""

from __future__ import annotations

import argparse
import json
import sys

from ingest.settings import ANSWER_MODES, offline_environment


def main(argv: list[str] | None = None) -> int:
    offline_environment()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["hash-password"]:
        from .auth import hash_password_main

        return hash_password_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m assistant", description="Pose une question aux documents indexés.")
    parser.add_argument("question", nargs="+", help="la question, en toutes lettres")
    parser.add_argument("--index", help="dossier de l'index (défaut : .note-rag/)")
    parser.add_argument("--mode", choices=ANSWER_MODES, help="extractive | local | openai | ollama")
    parser.add_argument("--json", action="store_true", help="affiche la réponse complète en JSON")
    parser.add_argument("-k", type=int, help="nombre de passages retrouvés")
    parser.add_argument("--kind", help="filtrer par type de document (sa clé kind dans corpus/sources.toml : barometre, annonce…)")
    parser.add_argument("--year", type=int, help="filtrer par année du document")
    args = parser.parse_args(argv)

    from ingest.store import IndexProblem

    from . import Answer, Assistant

    question = " ".join(args.question)
    filters = {key: value for key, value in (("kind", args.kind), ("year", args.year)) if value}
    try:
        assistant = Assistant(index_dir=args.index, mode=args.mode)
        answer: Answer | None = None
        first: Answer | None = None
        for event in assistant.stream(question, filters=filters or None, k=args.k):
            if not isinstance(event, Answer):
                continue  # the model's draft: the terminal shows the checked answers only
            answer = event
            if first is None:
                first = event
                if not args.json:
                    print(event.text, flush=True)
                    if event.mode == "extractive" and (args.mode or assistant.settings.mode) != "extractive" and not event.abstained:
                        print("(rédaction en cours…)", file=sys.stderr, flush=True)
    except (ValueError, IndexProblem) as error:
        print(f"erreur : {error}", file=sys.stderr)
        return 2
    assert answer is not None and first is not None
    if args.json:  # the final answer only
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
    else:
        if answer is not first and answer.text != first.text:  # the model's answer replaced the quote
            print("\nRéponse rédigée :\n" + answer.text)
        for citation in answer.citations:
            print(f"[{citation.n}] {citation.label()}")
        if answer.unsupported:
            print(f"Chiffres non retrouvés dans les sources : {', '.join(answer.unsupported)}")
        if answer.notice:
            print(f"Note : {answer.notice}")
        model = f" ({answer.model})" if answer.model else ""
        kept = f" (le mode {answer.fallback_from} n'a pas remplacé la citation)" if answer.fallback_from else ""
        first_at = first.timings.get("first_answer")
        times = f"première réponse {first_at:.1f} s, finale {answer.timings.get('total', 0):.1f} s" if answer is not first and first_at else f"{answer.timings.get('total', 0):.1f} s"
        print(f"— mode {answer.mode}{model}{kept}, {times}")
    return 3 if answer.abstained else 0


if __name__ == "__main__":
    sys.exit(main())
