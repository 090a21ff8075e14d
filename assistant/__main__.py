"""CLI: ``python -m assistant [--index DIR] [--mode M] [--json] [--conversation FILE] "question"``,
and ``python -m assistant hash-password [UTILISATEUR]`` (a line for the UI's users file).

A thin layer over ``Assistant.stream``: the first (cited) answer is printed at once; in an LLM
mode the written answer follows when it passed the checks; then the sources of the final answer.
``--json`` prints the final answer only.
``--conversation FILE`` gives the earlier turns, so that a follow-up (« Et les métropoles ? »)
is read with them: a JSON or YAML list of {role, content} (``Assistant.ask(history=...)``), or
plain text, one earlier question a line (``assistant.conversation``). When the assistant read
the question as another one, « Question comprise : … » comes first.
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
    parser.add_argument("--doc", action="append", metavar="DOC_ID", help="filtrer par document (son doc_id ; répétable)")
    parser.add_argument(
        "--conversation",
        metavar="FICHIER",
        help="les tours précédents, pour une question de suite (« Et les métropoles ? ») : liste JSON ou YAML "
        "de {role, content}, ou texte brut, une question précédente par ligne",
    )
    args = parser.parse_args(argv)

    from ingest.store import IndexProblem

    from . import Answer, Assistant
    from .conversation import read_conversation

    question = " ".join(args.question)
    doc = args.doc[0] if args.doc and len(args.doc) == 1 else args.doc
    filters = {key: value for key, value in (("kind", args.kind), ("year", args.year), ("doc_id", doc)) if value}
    try:
        history = read_conversation(args.conversation) if args.conversation else None
        assistant = Assistant(index_dir=args.index, mode=args.mode)
        if args.doc:
            _check_documents(assistant, args.doc)
        answer: Answer | None = None
        first: Answer | None = None
        for event in assistant.stream(question, history, filters=filters or None, k=args.k):
            if not isinstance(event, Answer):
                continue  # the model's draft: the terminal shows the checked answers only
            answer = event
            if first is None:
                first = event
                if not args.json:
                    if event.asked:  # a follow-up, read with the conversation: say how
                        print(f"Question comprise : {event.asked}", flush=True)
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


def _check_documents(assistant, doc_ids: list[str]) -> None:
    """``ValueError`` (French) naming the indexed documents when ``--doc`` names another one."""
    indexed = sorted(doc_id for doc_id, *_ in assistant.retriever.documents())
    unknown = [d for d in doc_ids if d not in indexed]
    if unknown:
        raise ValueError(f"document inconnu « {', '.join(unknown)} » : les documents indexés sont {', '.join(indexed) or '(aucun)'}")


if __name__ == "__main__":
    sys.exit(main())
