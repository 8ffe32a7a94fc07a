"""``modic-labels`` (also ``python -m modic_core.labels``): the label store from the command line.

- ``import COHORT --reviewer NAME``: a labelled cohort folder entered as studies and NAME's reviews
  (:func:`modic_core.labels.cohorts.import_cohort`; importing it again adds nothing).
- ``export --out FOLDER [--reviewer NAME]``: the reviewed studies as a cohort folder, each level's grade its
  latest review of any reviewer (or of NAME) (:func:`modic_core.labels.cohorts.export_cohort`).
- ``models [--json]``: the registered model versions, their metrics and which one is active.
- ``agreement (--a NAME --b NAME | --reviewer NAME) [--json]``: Cohen's kappa (95 % CI over studies) of two
  reviewers' latest grades, or of one reviewer's against the model's (:mod:`modic_core.labels.agreement`).
- ``user add --auth-file F --name N --role R [--password-stdin]``: add (or update) a dashboard account in the
  accounts file F (``MODIC_AUTH_FILE``), written atomically with mode 0600; the password is read from stdin's
  first line, else asked twice without echo. ``user list --auth-file F``: names and roles, never hashes
  (:mod:`modic_core.labels.auth`). Neither touches the database.

``--db URL`` defaults to :func:`modic_core.settings.database_url`. Bad input (a missing folder, not a cohort,
an unknown database scheme, an unreachable database) prints one sentence and exits with status 2.
"""
from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from modic_core.errors import InputError
from modic_core.labels.access import ROLES
from modic_core.labels.agreement import agreement, agreement_with_model
from modic_core.labels.auth import add_account, load_accounts
from modic_core.labels.cohorts import export_cohort, import_cohort
from modic_core.labels.store import LabelStore, open_store

__all__ = ["build_parser", "main"]

#: Database backends the store supports (the URL's scheme before any "+driver").


def build_parser() -> argparse.ArgumentParser:
    """The ``modic-labels`` argument parser (subcommands import, export, models, agreement, user)."""
    ap = argparse.ArgumentParser(prog="modic-labels", description="The label store: import, export, model versions.")
    sub = ap.add_subparsers(dest="command", required=True)
    db_help = "SQLAlchemy URL of the label store (default: MODIC_DATABASE_URL, else SQLite in MODIC_DATA_DIR)"
    imp = sub.add_parser("import", help="enter a labelled cohort folder as studies and reviews")
    imp.add_argument("cohort", type=Path, help="cohort folder (studies.csv, levels.csv)")
    imp.add_argument("--db", default=None, help=db_help)
    imp.add_argument("--reviewer", required=True, help="name the reviews are saved under")
    exp = sub.add_parser("export", help="write the reviewed studies as a cohort folder")
    exp.add_argument("--db", default=None, help=db_help)
    exp.add_argument("--out", type=Path, required=True, help="new or empty folder to write")
    exp.add_argument("--reviewer", default=None, help="use this reviewer's latest grades (default: anyone's latest)")
    mod = sub.add_parser("models", help="list the registered model versions")
    mod.add_argument("--db", default=None, help=db_help)
    mod.add_argument("--json", action="store_true", help="print JSON instead of a table")
    agr = sub.add_parser("agreement", help="Cohen's kappa of two reviewers, or of a reviewer and the model")
    agr.add_argument("--db", default=None, help=db_help)
    agr.add_argument("--a", default=None, help="first reviewer (with --b)")
    agr.add_argument("--b", default=None, help="second reviewer (with --a)")
    agr.add_argument("--reviewer", default=None, help="compare this reviewer with the model instead")
    agr.add_argument("--json", action="store_true", help="print JSON instead of a sentence")
    usr = sub.add_parser("user", help="dashboard accounts (MODIC_AUTH_FILE): add or list users")
    usr_sub = usr.add_subparsers(dest="user_command", required=True)
    add = usr_sub.add_parser("add", help="add a user, or set an existing user's role and password")
    add.add_argument("--auth-file", type=Path, required=True, help="accounts file (TOML; created if missing)")
    add.add_argument("--name", required=True, help="user name (shown and stored as the reviewer)")
    add.add_argument("--role", required=True, choices=ROLES, help="viewer reads; reviewer saves reviews; admin also "
                                                                "switches models and starts fine-tuning")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin's first line "
                                                                   "(default: ask twice without echo)")
    lst = usr_sub.add_parser("list", help="list the users and their roles (never the hashes)")
    lst.add_argument("--auth-file", type=Path, required=True, help="accounts file (TOML)")
    return ap


def _read_password(from_stdin: bool) -> str:
    """The new password: stdin's first line (without its line end), else typed twice without echo."""
    if from_stdin:
        return sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        raise InputError("The two passwords differ; run the command again and type the same password twice.")
    return first


def _user(args: argparse.Namespace) -> str:
    """``user add`` / ``user list`` (the accounts file only; no database)."""
    if args.user_command == "list":
        accounts = load_accounts(args.auth_file)
        if not accounts:
            return "No users."
        width = max(len(n) for n in accounts)
        return "\n".join(f"{a.name:{width}}  {a.role}" for a in accounts.values())
    new = add_account(args.auth_file, name=args.name, role=args.role, password=_read_password(args.password_stdin))
    return f"{'Added' if new else 'Updated'} user {args.name} ({args.role}) in {args.auth_file.name}."


def _check_agreement_args(args: argparse.Namespace) -> None:
    """InputError unless exactly one of (--a and --b) or --reviewer is given."""
    pair = args.a is not None and args.b is not None
    if (args.a is None) != (args.b is None) or pair == (args.reviewer is not None):
        raise InputError("Give either two reviewers (--a NAME --b NAME) or one reviewer to compare with the model "
                         "(--reviewer NAME).")


def _agreement_text(result, *, who: str) -> str:
    left_out = ", ".join(f"{n} {why}" for why, n in sorted(result.excluded.items()))
    tail = f"; left out: {left_out}" if left_out else ""
    where = f"{result.n_levels} levels in {result.n_studies} studies{tail}"
    if result.kappa is None:
        return f"Cohen's kappa {who}: undefined ({result.reason}); {where}."
    ci = "no CI" if result.lo is None else f"{result.level:.0%} CI {result.lo:.2f} to {result.hi:.2f}"
    return f"Cohen's kappa {who}: {result.kappa:.2f} ({ci}); {where}."


def _open(url: str | None) -> LabelStore:
    return open_store(url)


def _models_table(models) -> str:
    if not models:
        return "No model version is registered."
    lines = [f"{'name':30} {'status':10} metrics"]
    lines += [f"{m.name:30} {m.status:10} {json.dumps(m.metrics, sort_keys=True)}" for m in models]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> str:
    """Carry out one parsed command; return what to print. InputError on bad input."""
    if args.command == "user":  # the accounts file, not the database
        return _user(args)
    if args.command == "agreement":  # before touching the database
        _check_agreement_args(args)
    if args.command == "import" and not args.cohort.is_dir():  # before touching the database
        raise InputError(f"The cohort folder '{args.cohort.name}' does not exist; give a folder with studies.csv.")
    with _open(args.db) as store:
        try:
            if args.command == "import":
                s = import_cohort(store, cohort=args.cohort, reviewer=args.reviewer)
                return (f"{s.studies} labelled studies read, {s.new_studies} newly stored; {s.reviews_added} reviews "
                        f"added, {s.reviews_skipped} levels already reviewed alike.")
            if args.command == "export":
                e = export_cohort(store, out=args.out, reviewer=args.reviewer)
                left = (f"; {e.not_gradable} level{'s' if e.not_gradable != 1 else ''} graded not gradable "
                        f"left out (a cohort has no such grade)" if e.not_gradable else "")
                return (f"{e.studies} stud{'ies' if e.studies != 1 else 'y'} and {e.levels} "
                        f"level{'s' if e.levels != 1 else ''} written to {args.out}{left}.")
            if args.command == "agreement":
                if args.reviewer is not None:
                    result, who = agreement_with_model(store, reviewer=args.reviewer), f"{args.reviewer} vs the model"
                else:
                    result, who = agreement(store, a=args.a, b=args.b), f"{args.a} vs {args.b}"
                if args.json:
                    return json.dumps({"a": args.a or args.reviewer, "b": args.b or "model", **result.to_dict()}, indent=2)
                return _agreement_text(result, who=who)
            models = store.list_models()
            if args.json:
                return json.dumps([m.to_dict() for m in models], indent=2)
            return _models_table(models)
        except SQLAlchemyError:
            raise InputError("The database could not be read or written (unreachable or refused); check --db.") from None


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``modic-labels``: 0 on success, 2 on bad input (one sentence on stderr)."""
    args = build_parser().parse_args(argv)
    try:
        print(run(args))
    except InputError as exc:
        print(f"modic-labels: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
