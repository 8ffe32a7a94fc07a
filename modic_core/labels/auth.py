"""The accounts file (``MODIC_AUTH_FILE``): who may sign in to the dashboard, with which role.

Format (TOML, read with the standard library's :mod:`tomllib`), one table per account::

    [[user]]
    name = "dr-a"
    role = "reviewer"          # viewer | reviewer | admin (modic_core.labels.access.ROLES)
    password = "$2b$12$..."    # bcrypt hash, never the password

- :func:`load_accounts` reads it (at most :data:`modic_core.settings.MAX_AUTH_FILE_BYTES`, checked before
  parsing); a missing or oversized file, bad TOML, an unknown key, a duplicate name (case-insensitive), an
  unknown role or a value that is not a bcrypt hash is an :class:`~modic_core.errors.InputError` (one sentence).
- :func:`verify` checks a name and password with ``bcrypt.checkpw``; an unknown name costs one ``checkpw``
  against a dummy hash of the same cost, so the time taken does not tell whether the name exists.
- :func:`hash_password` / :func:`add_account` / :func:`save_accounts` write it (``modic-labels user add``):
  atomically (a temp file in the same folder, then a rename) and readable by its owner only (mode 0600).

bcrypt uses at most 72 bytes of a password: longer ones (UTF-8) are refused with a sentence rather than
silently truncated. Names and passwords are never logged.
"""
from __future__ import annotations

import functools
import json
import os
import re
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import bcrypt

from modic_core import settings
from modic_core.errors import InputError
from modic_core.labels.access import ROLES, Identity
from modic_core.text import plain_text

__all__ = ["MAX_NAME_CHARS", "MAX_PASSWORD_BYTES", "Account", "add_account", "check_name", "check_password",
           "hash_password", "load_accounts", "save_accounts", "verify"]

#: bcrypt reads at most this many bytes of a password (UTF-8); longer passwords are refused.
MAX_PASSWORD_BYTES = 72
#: Longest account name, in characters (as the local name box).
MAX_NAME_CHARS = 64
#: Cost (log2 rounds) of new hashes; 12 takes about 0.3 s per hash or check on one core.
DEFAULT_ROUNDS = 12
#: A bcrypt hash: ``$2a$``/``$2b$``/``$2y$``, a two-digit cost 04-31, 22 salt and 31 hash characters.
_BCRYPT = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")
_KEYS = frozenset(("name", "role", "password"))


@dataclass(frozen=True)
class Account:
    """One entry of the accounts file: ``name`` (what is shown and stored as reviewer/actor), ``role`` in
    :data:`~modic_core.labels.access.ROLES`, ``password_hash`` (bcrypt, kept out of ``repr``)."""

    name: str
    role: str
    password_hash: str = field(repr=False)

    @property
    def rounds(self) -> int:
        """The hash's cost (log2 of bcrypt's rounds)."""
        return int(self.password_hash[4:6])


def check_name(name: str) -> str:
    """``name`` if it is a usable account name (1-64 visible characters, no leading/trailing spaces, no
    control or invisible characters); else InputError."""
    if not isinstance(name, str) or not name or name != plain_text(name, limit=MAX_NAME_CHARS + 1) \
            or len(name) > MAX_NAME_CHARS:
        raise InputError(f"An account name must be 1 to {MAX_NAME_CHARS} visible characters without control "
                         "characters or surrounding spaces, e.g. dr-a.")
    return name


def check_password(password: str) -> bytes:
    """``password`` as UTF-8 bytes if bcrypt can use all of it (1-72 bytes); else InputError."""
    raw = password.encode("utf-8") if isinstance(password, str) else b""
    if not raw:
        raise InputError("The password is empty; give one of 1 to 72 bytes.")
    if len(raw) > MAX_PASSWORD_BYTES:
        raise InputError(f"The password is {len(raw)} bytes long; bcrypt uses at most {MAX_PASSWORD_BYTES} bytes "
                         "(UTF-8), so give a shorter one.")
    return raw


def hash_password(password: str, *, rounds: int | None = None) -> str:
    """The bcrypt hash (``$2b$<rounds>$...``, default cost :data:`DEFAULT_ROUNDS`) of ``password`` with a new
    salt; InputError for an empty or too long password (see :func:`check_password`)."""
    salt = bcrypt.gensalt(DEFAULT_ROUNDS if rounds is None else rounds)
    return bcrypt.hashpw(check_password(password), salt).decode("ascii")


@functools.lru_cache(maxsize=32)
def _dummy_hash(rounds: int) -> bytes:
    """A hash of a random password at cost ``rounds``, checked for unknown names (same time as a real check)."""
    return bcrypt.hashpw(os.urandom(16).hex().encode(), bcrypt.gensalt(rounds))


def _account(entry: object, index: int, source: str) -> Account:
    where = f"Entry {index} of the accounts file '{source}'"
    if not isinstance(entry, dict):
        raise InputError(f"{where} is not a [[user]] table; give name, role and password.")
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise InputError(f"{where} has unknown keys ({', '.join(unknown)}); give only name, role and password.")
    missing = [k for k in ("name", "role", "password") if not isinstance(entry.get(k), str)]
    if missing:
        raise InputError(f"{where} lacks a text {', '.join(missing)}; give name, role and password.")
    try:
        name = check_name(entry["name"])
    except InputError:
        raise InputError(f"{where} has an unusable name; give 1 to {MAX_NAME_CHARS} visible characters without "
                         "control characters or surrounding spaces.") from None
    if entry["role"] not in ROLES:
        raise InputError(f"{where} has the unknown role {plain_text(entry['role'], limit=20)!r}; give one of "
                         f"{', '.join(ROLES)}.")
    if not _BCRYPT.fullmatch(entry["password"]):
        raise InputError(f"{where} has a password that is not a bcrypt hash ($2b$12$...); write hashes with "
                         "modic-labels user add, never passwords.")
    return Account(name=name, role=entry["role"], password_hash=entry["password"])


def load_accounts(path: Path | str) -> dict[str, Account]:
    """The accounts of the file at ``path``, by name, in file order (an empty file: none).

    The size is checked before anything is parsed (at most :data:`modic_core.settings.MAX_AUTH_FILE_BYTES`).
    Raises InputError (one sentence naming the file by its name only) for a missing, unreadable, oversized
    or non-TOML file, keys other than ``user``, or a bad entry (see the module docstring).
    """
    path = Path(path)
    source = path.name
    limit = settings.MAX_AUTH_FILE_BYTES
    try:
        if not path.is_file():
            raise InputError(f"The accounts file '{source}' does not exist or is not a file; create it with "
                             "modic-labels user add --auth-file FILE --name NAME --role ROLE.")
        if path.stat().st_size > limit:
            raise InputError(f"The accounts file '{source}' is larger than {limit // 1024} KiB; give a file of "
                             "[[user]] entries only.")
        with open(path, "rb") as fh:
            raw = fh.read(limit + 1)  # bounded even if the file grew after the check
    except OSError:
        raise InputError(f"The accounts file '{source}' could not be read; check that the app's user may read it.") from None
    if len(raw) > limit:
        raise InputError(f"The accounts file '{source}' is larger than {limit // 1024} KiB; give a file of "
                         "[[user]] entries only.")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        reason = "not UTF-8" if isinstance(exc, UnicodeDecodeError) else str(exc)
        raise InputError(f"The accounts file '{source}' is not valid TOML ({reason}); give [[user]] entries with "
                         "name, role and password.") from None
    extra = sorted(set(data) - {"user"})
    users = data.get("user", [])
    if extra or not isinstance(users, list):
        raise InputError(f"The accounts file '{source}' holds more than [[user]] entries; give only [[user]] "
                         "tables with name, role and password.")
    out: dict[str, Account] = {}
    seen: set[str] = set()
    for i, entry in enumerate(users, start=1):
        acc = _account(entry, i, source)
        if acc.name.casefold() in seen:
            raise InputError(f"The accounts file '{source}' names the same user twice (entry {i}); keep one entry "
                             "per name.")
        seen.add(acc.name.casefold())
        out[acc.name] = acc
    for rounds in {a.rounds for a in out.values()}:
        _dummy_hash(rounds)  # computed now, so that the first unknown name takes no longer than a known one
    return out


def verify(accounts: Mapping[str, Account], name: str, password: str) -> Identity | None:
    """The :class:`~modic_core.labels.access.Identity` (the account's name and role) if ``password`` is
    ``name``'s; else ``None`` (wrong password and unknown name alike, in about the same time: an unknown name
    is checked against a dummy hash of the accounts' highest cost).

    Raises InputError for an empty password or one over :data:`MAX_PASSWORD_BYTES` bytes (whatever the name).
    """
    raw = check_password(password)
    account = accounts.get(name) if isinstance(name, str) else None
    if account is None:
        rounds = max((a.rounds for a in accounts.values()), default=DEFAULT_ROUNDS)
        bcrypt.checkpw(raw, _dummy_hash(rounds))
        return None
    if not bcrypt.checkpw(raw, account.password_hash.encode("ascii")):
        return None
    return Identity(name=account.name, role=account.role)


def _toml_text(accounts: Mapping[str, Account]) -> str:
    lines = ["# Dashboard accounts (MODIC_AUTH_FILE), written by modic-labels user add: bcrypt hashes, never passwords.\n"]
    for a in accounts.values():  # json.dumps quotes as a TOML basic string: names are visible text (check_name)
        lines.append(f"\n[[user]]\nname = {json.dumps(a.name, ensure_ascii=False)}\nrole = {json.dumps(a.role)}\n"
                     f"password = {json.dumps(a.password_hash)}\n")
    return "".join(lines)


def save_accounts(path: Path | str, accounts: Mapping[str, Account]) -> None:
    """Write ``accounts`` to ``path`` atomically (temp file in the same folder, fsync, rename) with mode 0600.

    A reader sees the old file or the new one, never a part. Comments of an earlier file are not kept.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # created 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(_toml_text(accounts))
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def add_account(path: Path | str, *, name: str, role: str, password: str, rounds: int | None = None) -> bool:
    """Add ``name`` with ``role`` and the hash of ``password`` to the accounts file at ``path`` (created if
    missing), or replace that account's role and password. True if the account is new.

    InputError for a bad name, role or password, or a bad existing file (which is then left as it is).
    """
    check_name(name)
    if role not in ROLES:
        raise InputError(f"The role {plain_text(role, limit=20)!r} is unknown; give one of {', '.join(ROLES)}.")
    path = Path(path)
    if not path.parent.is_dir():
        raise InputError(f"The folder of the accounts file '{path.name}' does not exist; create it first.")
    accounts = load_accounts(path) if path.exists() else {}
    clash = next((n for n in accounts if n.casefold() == name.casefold() and n != name), None)
    if clash is not None:
        raise InputError(f"The accounts file already has a user named {clash!r} (names differ only in case); use "
                         "that name to update it.")
    new = name not in accounts
    accounts[name] = Account(name=name, role=role, password_hash=hash_password(password, rounds=rounds))
    save_accounts(path, accounts)
    return new
