"""CLI: ``python -m assistant [--index DIR] [--mode M] [--json] "question"``, and
``python -m assistant hash-password [UTILISATEUR]`` (a line for the UI's users file).

A thin layer over ``Assistant.stream``: the answer streams to the terminal, then the sources.
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
    parser.add_argument("--kind", help="filtrer par type de document (note, barometre, annonce, temoignage)")
    parser.add_argument("--year", type=int, help="filtrer par année du document")
    args = parser.parse_args(argv)

    from ingest.store import IndexProblem

    from . import Answer, Assistant

    question = " ".join(args.question)
    filters = {key: value for key, value in (("kind", args.kind), ("year", args.year)) if value}
    try:
        assistant = Assistant(index_dir=args.index, mode=args.mode)
        answer: Answer | None = None
        streamed = ""
        for event in assistant.stream(question, filters=filters or None, k=args.k):
            if isinstance(event, Answer):
                answer = event
            elif not args.json:
                streamed += event
                print(event, end="", flush=True)
    except (ValueError, IndexProblem) as error:
        print(f"erreur : {error}", file=sys.stderr)
        return 2
    assert answer is not None
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
    else:
        print("\n" if streamed else "", end="")
        if answer.text.strip() != streamed.strip():  # grounding changed the text, or a fallback answered
            print(("Réponse vérifiée :\n" if streamed else "") + answer.text + "\n")
        for citation in answer.citations:
            print(f"[{citation.n}] {citation.label()}")
        if answer.unsupported:
            print(f"Chiffres non retrouvés dans les sources : {', '.join(answer.unsupported)}")
        if answer.notice:
            print(f"Note : {answer.notice}")
        model = f" ({answer.model})" if answer.model else ""
        fallback = f" (repli : le mode {answer.fallback_from} n'a pas répondu)" if answer.fallback_from else ""
        print(f"— mode {answer.mode}{model}{fallback}, {answer.timings.get('total', 0):.1f} s")
    return 3 if answer.abstained else 0


if __name__ == "__main__":
    sys.exit(main())
