"""Who may use the web UI: several users, salted password hashes, constant-time checks.

``NOTE_RAG_AUTH`` (or ``auth`` in note-rag.toml) is either the path of a users file, one
``user:hash`` line per user (``#`` starts a comment), the hash printed by::

    python -m assistant hash-password alice      # asks the password twice, prints alice:scrypt$…

or, as before, a single ``user:password`` (kept for compatibility; the password then sits in
the environment in clear, but is hashed as soon as the setting is read, so that a login costs
the same scrypt for it as for any other user). Hashes are scrypt (n=2^14, r=8, p=1, 16-byte random salt): about
50 ms and 16 MB per try, which makes guessing slow. Passwords are compared with
``hmac.compare_digest``, and an unknown user costs the same hash as a known one, so neither
the timing of an answer nor its delay tells an attacker which part was wrong.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path

SCHEME = "scrypt"
N, R, P = 2**14, 8, 1
MIN_PASSWORD = 8


class AuthError(ValueError):
    """A users file or setting that cannot be used (French message naming what to fix)."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=length, maxmem=256 * 1024 * 1024)


def hash_password(password: str, salt: bytes | None = None) -> str:
    """``scrypt$n$r$p$salt$hash`` (base64), a fresh random salt unless one is given."""
    salt = salt if salt is not None else os.urandom(16)
    return "$".join([SCHEME, str(N), str(R), str(P), _b64(salt), _b64(_scrypt(password, salt, N, R, P, 32))])


def _parse(encoded: str) -> tuple[int, int, int, bytes, bytes]:
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        raise AuthError("empreinte illisible : attendu scrypt$n$r$p$sel$empreinte (python -m assistant hash-password)")
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, digest = base64.b64decode(parts[4], validate=True), base64.b64decode(parts[5], validate=True)
    except ValueError as error:
        raise AuthError("empreinte illisible : paramètres ou base64 invalides (python -m assistant hash-password)") from error
    if n < 2 or n & (n - 1) or not (1 <= r <= 64 and 1 <= p <= 16) or not salt or len(digest) < 16:
        raise AuthError("empreinte invalide : paramètres scrypt hors limites")
    return n, r, p, salt, digest


def verify_password(password: str, encoded: str) -> bool:
    n, r, p, salt, digest = _parse(encoded)
    return hmac.compare_digest(_scrypt(password, salt, n, r, p, len(digest)), digest)


_DUMMY = hash_password("note-rag: no such user", salt=b"\x00" * 16)


@dataclass(frozen=True)
class Users:
    """The accounts of the UI. Called as ``users(name, password) -> bool`` (Gradio's ``auth``).

    Every login runs one scrypt with the same parameters, whether the user exists or not and
    whatever form the setting took: the delay of a refusal tells nothing.
    """

    hashes: dict[str, str]  # user -> scrypt hash
    origin: str  # where they come from, for messages

    def __call__(self, username: str, password: str) -> bool:
        username = (username or "").strip()
        if username in self.hashes:
            return verify_password(password, self.hashes[username])
        verify_password(password, _DUMMY)  # same cost as a real user: the delay tells nothing
        return False

    @classmethod
    def one(cls, user: str, password: str, origin: str) -> "Users":
        """A single account given with its password in clear (``user:password``), hashed now
        with the parameters of every other hash: a login then costs one scrypt, known user or
        not (compared in clear, a known name was answered faster than an unknown one)."""
        return cls({user.strip(): hash_password(password)}, origin)

    @property
    def names(self) -> list[str]:
        return sorted(self.hashes)


def read_users_file(path: Path) -> Users:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise AuthError(f"fichier d'utilisateurs illisible : {path} ({error.strerror or error})") from error
    hashes: dict[str, str] = {}
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, encoded = line.partition(":")
        user, encoded = user.strip(), encoded.strip()
        if not sep or not user or not encoded:
            raise AuthError(f"{path}, ligne {number} : attendu utilisateur:empreinte (créée par « python -m assistant hash-password »)")
        try:
            _parse(encoded)
        except AuthError as error:
            raise AuthError(f"{path}, ligne {number} ({user}) : {error}") from None
        if user in hashes:
            raise AuthError(f"{path}, ligne {number} : utilisateur « {user} » déjà défini plus haut")
        hashes[user] = encoded
    if not hashes:
        raise AuthError(f"{path} ne définit aucun utilisateur (lignes utilisateur:empreinte, « python -m assistant hash-password »)")
    return Users(hashes, str(path))


def load_users(value: str | None) -> Users | None:
    """The users of the ``auth`` setting: a users file, or one ``user:password``; None if unset."""
    if not value:
        return None
    path = Path(value).expanduser()
    if path.is_file():
        return read_users_file(path)
    if value.startswith(("/", "~", "./", "../")):
        raise AuthError(f"NOTE_RAG_AUTH : fichier d'utilisateurs introuvable : {path}")
    user, sep, password = value.partition(":")
    if not sep or not user.strip() or not password:
        raise AuthError(
            "NOTE_RAG_AUTH doit être le chemin d'un fichier d'utilisateurs (lignes utilisateur:empreinte, "
            "créées par « python -m assistant hash-password ») ou utilisateur:motdepasse"
        )
    return Users.one(user, password, "NOTE_RAG_AUTH")


def hash_password_main(argv: list[str]) -> int:
    """``python -m assistant hash-password [UTILISATEUR]``: prints a line for the users file."""
    import argparse
    import getpass
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m assistant hash-password",
        description="Affiche l'empreinte d'un mot de passe pour le fichier d'utilisateurs de l'interface (NOTE_RAG_AUTH).",
    )
    parser.add_argument("user", nargs="?", help="nom de l'utilisateur (la ligne affichée est alors utilisateur:empreinte)")
    args = parser.parse_args(argv)
    if args.user is not None and (":" in args.user or not args.user.strip()):
        print("erreur : le nom d'utilisateur ne peut être vide ni contenir « : »", file=sys.stderr)
        return 2
    if sys.stdin.isatty():
        password = getpass.getpass("Mot de passe : ")
        if getpass.getpass("Mot de passe (encore) : ") != password:
            print("erreur : les deux saisies diffèrent", file=sys.stderr)
            return 2
    else:  # a pipe: the first line is the password
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < MIN_PASSWORD:
        print(f"erreur : mot de passe trop court ({MIN_PASSWORD} caractères au moins)", file=sys.stderr)
        return 2
    encoded = hash_password(password)
    print(f"{args.user.strip()}:{encoded}" if args.user else encoded)
    return 0
