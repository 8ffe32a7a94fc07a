"""The accounts file (``MODIC_AUTH_FILE``, :mod:`modic_core.labels.auth`): load, verify, limits, and
``modic-labels user add/list``. Hashes use bcrypt cost 4 (fast); passwords are fixed strings."""
from __future__ import annotations

import io
import stat
import sys
import tomllib
from pathlib import Path

import bcrypt
import pytest

from modic_core import settings
from modic_core.errors import InputError
from modic_core.labels import auth
from modic_core.labels.access import Identity
from modic_core.labels.auth import Account, add_account, hash_password, load_accounts, verify
from modic_core.labels.cli import main


@pytest.fixture(autouse=True)
def fast_hashes(monkeypatch):
    """New hashes at cost 4 (about 1 ms) instead of 12."""
    monkeypatch.setattr(auth, "DEFAULT_ROUNDS", 4)


def fast_hash(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


def write_accounts(path: Path, users: list[tuple[str, str, str]]) -> Path:
    path.write_text("".join(f'[[user]]\nname = "{n}"\nrole = "{r}"\npassword = "{h}"\n\n' for n, r, h in users))
    return path


@pytest.fixture
def accounts_file(tmp_path) -> Path:
    return write_accounts(tmp_path / "accounts.toml", [("dr-a", "reviewer", fast_hash("pw-a")),
                                                       ("student", "viewer", fast_hash("pw-s")),
                                                       ("boss", "admin", fast_hash("pw-b"))])


def one_sentence(message: str) -> None:
    assert "\n" not in message and message.endswith(".") and "Traceback" not in message, message


# --------------------------------------------------------------------------- load


def test_load_gives_typed_accounts_in_file_order_without_showing_hashes(accounts_file):
    accounts = load_accounts(accounts_file)
    assert list(accounts) == ["dr-a", "student", "boss"]
    a = accounts["dr-a"]
    assert isinstance(a, Account) and (a.name, a.role, a.rounds) == ("dr-a", "reviewer", 4)
    assert a.password_hash.startswith("$2b$04$") and "$2b$" not in repr(a)
    assert load_accounts(write_accounts(accounts_file.parent / "empty.toml", [])) == {}


GOOD = fast_hash("pw")


@pytest.mark.parametrize("text, expected", [
    (f'[[user]]\nname = "a"\nrole = "reviewer"\npassword = "{GOOD}"\n[[user]]\nname = "A"\nrole = "viewer"\n'
     f'password = "{GOOD}"\n', "names the same user twice (entry 2)"),
    (f'[[user]]\nname = "a"\nrole = "editor"\npassword = "{GOOD}"\n', "unknown role 'editor'"),
    ('[[user]]\nname = "a"\nrole = "reviewer"\npassword = "hunter2"\n', "not a bcrypt hash"),
    (f'[[user]]\nname = "a"\nrole = "reviewer"\npassword = "{GOOD[:-1]}"\n', "not a bcrypt hash"),
    (f'[[user]]\nname = "a"\nrole = "reviewer"\npassword = "{GOOD.replace("$04$", "$03$")}"\n', "not a bcrypt hash"),
    (f'[[user]]\nname = "a"\nrole = "reviewer"\npassword = "{GOOD}"\npasword = "x"\n', "unknown keys (pasword)"),
    ('[[user]]\nname = "a"\nrole = "reviewer"\n', "lacks a text password"),
    (f'[[user]]\nname = " a"\nrole = "reviewer"\npassword = "{GOOD}"\n', "unusable name"),
    (f'[[user]]\nname = "a\\u202eb"\nrole = "reviewer"\npassword = "{GOOD}"\n', "unusable name"),
    (f'[[user]]\nname = "{"x" * 65}"\nrole = "reviewer"\npassword = "{GOOD}"\n', "unusable name"),
    ('[[user]\nname = "a"\n', "is not valid TOML"),
    (f'[server]\nport = 1\n[[user]]\nname = "a"\nrole = "reviewer"\npassword = "{GOOD}"\n', "more than [[user]]"),
    ('user = "a"\n', "more than [[user]]"),
    ('user = ["a"]\n', "Entry 1 of the accounts file 'accounts.toml' is not a [[user]] table"),
])
def test_bad_accounts_files_are_refused_with_one_sentence(tmp_path, text, expected):
    path = tmp_path / "accounts.toml"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        load_accounts(path)
    assert expected in str(err.value)
    one_sentence(str(err.value))
    assert "hunter2" not in str(err.value) and GOOD not in str(err.value) and str(tmp_path) not in str(err.value)


def test_missing_not_utf8_and_oversized_files(tmp_path, monkeypatch):
    with pytest.raises(InputError, match=r"^The accounts file 'nope.toml' does not exist or is not a file; create it"):
        load_accounts(tmp_path / "nope.toml")
    with pytest.raises(InputError, match="is not a file"):
        load_accounts(tmp_path)
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b'# caf\xe9\n')
    with pytest.raises(InputError, match=r"is not valid TOML \(not UTF-8\)"):
        load_accounts(bad)
    big = tmp_path / "big.toml"
    big.write_bytes(b"#" * (settings.MAX_AUTH_FILE_BYTES + 1))

    def no_parse(*a, **k):
        raise AssertionError("an oversized file was parsed")

    monkeypatch.setattr(tomllib, "loads", no_parse)
    with pytest.raises(InputError, match=r"^The accounts file 'big.toml' is larger than 1024 KiB"):
        load_accounts(big)


# --------------------------------------------------------------------------- verify


def test_verify_right_wrong_and_unknown(accounts_file):
    accounts = load_accounts(accounts_file)
    assert verify(accounts, "dr-a", "pw-a") == Identity(name="dr-a", role="reviewer")
    assert verify(accounts, "student", "pw-s") == Identity(name="student", role="viewer")
    assert verify(accounts, "boss", "pw-b").is_admin
    assert verify(accounts, "dr-a", "pw-s") is None  # another user's password
    assert verify(accounts, "DR-A", "pw-a") is None  # names are exact
    assert verify(accounts, "nobody", "pw-a") is None


def test_unknown_name_costs_one_check_at_the_accounts_cost(accounts_file, monkeypatch):
    accounts = load_accounts(accounts_file)
    calls = []
    real = bcrypt.checkpw

    def counting(pw, hashed):
        calls.append(hashed[:7])
        return real(pw, hashed)

    monkeypatch.setattr(auth.bcrypt, "checkpw", counting)
    assert verify(accounts, "nobody", "pw-a") is None
    assert verify(accounts, "dr-a", "wrong") is None
    assert calls == [b"$2b$04$", b"$2b$04$"]  # the same work for an unknown name as for a wrong password


def test_passwords_longer_than_bcrypt_reads_are_refused_with_a_sentence(accounts_file):
    accounts = load_accounts(accounts_file)
    assert hash_password("a" * 72).startswith("$2b$04$")  # 72 bytes: bcrypt's whole limit
    for long in ("a" * 73, "\u00e9" * 37):  # 73 bytes; 74 bytes in UTF-8 (37 characters)
        with pytest.raises(InputError, match=r"^The password is \d+ bytes long; bcrypt uses at most 72 bytes"):
            hash_password(long)
        for name in ("dr-a", "nobody"):  # the same answer whether the name exists or not
            with pytest.raises(InputError, match="bcrypt uses at most 72 bytes"):
                verify(accounts, name, long)
    with pytest.raises(InputError, match="The password is empty"):
        hash_password("")


def test_auth_file_setting(monkeypatch, tmp_path):
    monkeypatch.delenv("MODIC_AUTH_FILE", raising=False)
    assert settings.auth_file() is None
    monkeypatch.setenv("MODIC_AUTH_FILE", "")
    assert settings.auth_file() is None
    monkeypatch.setenv("MODIC_AUTH_FILE", str(tmp_path / "a.toml"))
    assert settings.auth_file() == tmp_path / "a.toml"


# --------------------------------------------------------------------------- writing and the CLI


def test_add_account_writes_atomically_with_mode_0600_and_updates(tmp_path):
    path = tmp_path / "accounts.toml"
    assert add_account(path, name="dr-a", role="reviewer", password="pw-1") is True
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert add_account(path, name='O\'Neil "B"', role="viewer", password="pw-2") is True  # quotes survive TOML
    assert add_account(path, name="dr-a", role="admin", password="pw-3") is False
    accounts = load_accounts(path)
    assert {n: a.role for n, a in accounts.items()} == {"dr-a": "admin", 'O\'Neil "B"': "viewer"}
    assert verify(accounts, "dr-a", "pw-3") == Identity(name="dr-a", role="admin")
    assert verify(accounts, "dr-a", "pw-1") is None
    assert "pw-" not in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["accounts.toml"]  # no temp file left
    with pytest.raises(InputError, match="names differ only in case"):
        add_account(path, name="DR-A", role="viewer", password="pw")


def test_a_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "accounts.toml"
    add_account(path, name="dr-a", role="reviewer", password="pw-1")
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(auth.os, "replace", broken_replace)
    with pytest.raises(OSError):
        add_account(path, name="dr-b", role="reviewer", password="pw-2")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["accounts.toml"]


def test_cli_user_add_from_stdin_and_list_without_hashes(tmp_path, monkeypatch, capsys):
    path = tmp_path / "accounts.toml"
    monkeypatch.setattr(sys, "stdin", io.StringIO("s3cret pass\n"))
    assert main(["user", "add", "--auth-file", str(path), "--name", "dr-a", "--role", "reviewer",
                 "--password-stdin"]) == 0
    assert capsys.readouterr().out == "Added user dr-a (reviewer) in accounts.toml.\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO("other\n"))
    assert main(["user", "add", "--auth-file", str(path), "--name", "student", "--role", "viewer",
                 "--password-stdin"]) == 0
    capsys.readouterr()
    assert verify(load_accounts(path), "dr-a", "s3cret pass") == Identity(name="dr-a", role="reviewer")
    assert main(["user", "list", "--auth-file", str(path)]) == 0
    out = capsys.readouterr().out
    assert out == "dr-a     reviewer\nstudent  viewer\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_cli_user_add_asks_twice_and_refuses_a_mismatch(tmp_path, monkeypatch, capsys):
    path = tmp_path / "accounts.toml"
    typed = iter(["pw-1", "pw-2"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(typed))
    assert main(["user", "add", "--auth-file", str(path), "--name", "dr-a", "--role", "reviewer"]) == 2
    assert capsys.readouterr().err == ("modic-labels: The two passwords differ; run the command again and type the "
                                       "same password twice.\n")
    assert not path.exists()
    typed = iter(["pw-1", "pw-1"])
    assert main(["user", "add", "--auth-file", str(path), "--name", "dr-a", "--role", "admin"]) == 0
    assert verify(load_accounts(path), "dr-a", "pw-1").is_admin


@pytest.mark.parametrize("args, stdin, expected", [
    (["--name", "dr-a", "--role", "reviewer"], "", "The password is empty"),
    (["--name", "dr-a", "--role", "reviewer"], "x" * 73, "bcrypt uses at most 72 bytes"),
    (["--name", " ", "--role", "reviewer"], "pw", "An account name must be 1 to 64 visible characters"),
])
def test_cli_user_add_bad_input_is_one_sentence_and_exit_2(tmp_path, monkeypatch, capsys, args, stdin, expected):
    path = tmp_path / "accounts.toml"
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    assert main(["user", "add", "--auth-file", str(path), *args, "--password-stdin"]) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1 and not path.exists()


def test_cli_user_add_leaves_a_bad_file_untouched(tmp_path, monkeypatch, capsys):
    path = tmp_path / "accounts.toml"
    path.write_text('[[user]]\nname = "a"\nrole = "reviewer"\npassword = "plain"\n')
    monkeypatch.setattr(sys, "stdin", io.StringIO("pw\n"))
    assert main(["user", "add", "--auth-file", str(path), "--name", "b", "--role", "viewer", "--password-stdin"]) == 2
    assert "not a bcrypt hash" in capsys.readouterr().err
    assert path.read_text().endswith('password = "plain"\n')
    assert main(["user", "list", "--auth-file", str(tmp_path / "none.toml")]) == 2

