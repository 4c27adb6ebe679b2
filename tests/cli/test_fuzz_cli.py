"""The command line, fuzzed: every command exits 0, or 2 with one line saying what to fix; never a traceback.

Arguments are what a shell can pass: any text but NUL, and bytes that are not UTF-8 (they reach Python as lone
surrogates). One seeded app per database for the module, as in test_fuzz_endpoints.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from admin_app.accounts import find_user
from flask_activity.reporting.periods import PERIODS
from reports import builtin
from tests.fuzzing import (
    ACTION_VALUES,
    ACTOR_VALUES,
    ARGV_CHARS,
    MODEL_VALUES,
    assert_formula_safe_csv,
    count,
    cursor_tokens,
    date_texts,
    fuzz_app,
    number_texts,
    scaled,
)

ARGV_TEXT = st.text(ARGV_CHARS, max_size=20)


@pytest.fixture(scope="module")
def cli(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with fuzz_app(database_url, tmp_path_factory.mktemp("fuzz-cli-reports")) as (app, _users):
        yield app.test_cli_runner()


def invoke(cli: Any, args: list[str], input: bytes | None = None) -> Any:
    """Run a command; it exits 0, or 2 with one line: ours ('error: ...') or Click's usage error ('Error: ...')."""
    result = cli.invoke(args=args, input=input)
    count("CLI calls")
    count(f"CLI calls exit {result.exit_code}")
    assert result.exit_code in (0, 2), (args, result.exit_code, result.output, result.exception)
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        lines = result.output.strip().splitlines()
        if lines[0].startswith("Usage:"):  # Click's own: usage, a hint, then one line saying what is wrong
            assert lines[-1].startswith("Error:"), result.output
        else:
            assert len(lines) == 1 and lines[0].startswith("error: "), (args, result.output)
    return result


def options(values: dict[str, st.SearchStrategy[str]], max_size: int = 6) -> st.SearchStrategy[list[str]]:
    """Options in any order, repeated or not: ['--since', '2026-01-01', '--model', 'item', ...]."""
    pairs = st.sampled_from(sorted(values)).flatmap(lambda k: st.tuples(st.just(k), values[k]))
    return st.lists(pairs, max_size=max_size).map(lambda ps: [part for pair in ps for part in pair])


ACTIVITY_OPTIONS = {
    "--since": date_texts(ARGV_CHARS), "--until": date_texts(ARGV_CHARS),
    "--model": MODEL_VALUES | ARGV_TEXT, "--action": ACTION_VALUES | ARGV_TEXT,
    "--actor": ACTOR_VALUES | ARGV_TEXT, "--limit": number_texts(ARGV_CHARS),
    "--cursor": cursor_tokens(ARGV_CHARS), "--format": st.sampled_from(("table", "json", "csv", "xml")),
}


@settings(max_examples=scaled(150))
@given(args=options(ACTIVITY_OPTIONS))
@example(args=["--actor", "\udcff@example.com"])
@example(args=["--actor", "9" * 5000])
@example(args=["--model", "item\udcff"])
def test_activity_command_exits_0_or_2_with_one_line(cli, args):
    result = invoke(cli, ["activity", *args])
    if result.exit_code == 0:
        pairs = zip(args[::2], args[1::2], strict=False)
        fmt = ([v for k, v in pairs if k == "--format"] or ["table"])[-1]  # the last one wins
        if fmt == "json":
            assert set(json.loads(result.stdout)) == {"events", "next_cursor"}
        elif fmt == "csv":
            assert_formula_safe_csv(result.stdout)


REPORT_NAMES = (st.sampled_from(sorted(r.name for r in builtin.REPORTS)) | st.sampled_from(("", "Items", "items "))
                | ARGV_TEXT)
PARAMS = st.one_of(
    st.tuples(st.sampled_from(("model", "action", "Model", "")), st.just("="),
              MODEL_VALUES | ACTION_VALUES | ARGV_TEXT).map("".join),
    st.sampled_from(("model", "=", "action==created", "model=item=item")), ARGV_TEXT)
RUN_OPTIONS = {
    "--since": date_texts(ARGV_CHARS), "--until": date_texts(ARGV_CHARS),
    "--period": st.sampled_from(PERIODS) | ARGV_TEXT, "--param": PARAMS,
}


@settings(max_examples=scaled(80))
@given(name=REPORT_NAMES, args=options(RUN_OPTIONS, max_size=4), gzip=st.booleans())
@example(name="activity", args=["--since", "2026-03-28", "--until", "2026-03-29", "--param", "model=item\udcff"],
         gzip=False)
@example(name="activity", args=["--param", "action=\udcff"], gzip=False)
def test_report_run_exits_0_or_2_with_one_line(cli, name, args, gzip):
    invoke(cli, ["report", "run", name, *args, *(["--gzip"] if gzip else [])])


@settings(max_examples=scaled(60))
@given(command=st.sampled_from(("history", "prune")), name=st.none() | REPORT_NAMES,
       limit=st.none() | number_texts(ARGV_CHARS))
def test_report_history_and_prune_exit_0_or_2(cli, command, name, limit):
    args = ["report", command, *([name] if name is not None else [])]
    if command == "history" and limit is not None:
        args += ["--limit", limit]
    elif command == "prune":
        args += ["--dry-run"]
    invoke(cli, args)


EMAILS = st.one_of(st.sampled_from(("new@example.com", "ADMIN@example.com", "viewer@example.com ", "two@@x.io",
                                    "a" * 250 + "@x.io", "a" * 251 + "@x.io", "n" * 130 + "@example.com",
                                    "\udcff@example.com")),
                   st.tuples(ARGV_TEXT, st.just("@"), ARGV_TEXT, st.just(".io")).map("".join), ARGV_TEXT)
PASSWORDS = st.sampled_from(("", "short", "long-enough-1")) | st.text(ARGV_CHARS | st.just("\x00"), max_size=20)


@settings(max_examples=scaled(80))
@given(command=st.sampled_from(("create-user", "set-password")), email=EMAILS, password=PASSWORDS,
       role=st.none() | st.sampled_from(("admin", "viewer", "root")), name=st.none() | ARGV_TEXT)
@example(command="create-user", email="n" * 130 + "@example.com", password="long-enough-1", role=None, name=None)
@example(command="create-user", email="a" * 250 + "@x.io", password="long-enough-1", role=None, name=None)
@example(command="create-user", email="ok@example.com", password="long-enough-1", role=None, name="d" * 200)
@example(command="set-password", email="\udcff@example.com", password="long-enough-1", role=None, name=None)
def test_user_commands_exit_0_or_2_with_one_line(cli, command, email, password, role, name):
    args = [command, email, "--password-stdin"]
    if command == "create-user":
        args += [*(["--role", role] if role else []), *(["--name", name] if name is not None else [])]
    invoke(cli, args, input=(password + "\n").encode("utf-8", "surrogateescape"))  # stdin is bytes, maybe not UTF-8


# --- what fuzzing found, kept as plain tests --------------------------------------------------------------


@pytest.mark.parametrize("args, stdin, mention", [
    (["activity", "--actor", "\udcff@example.com"], None, "actor: '\\udcff@example.com' is not valid UTF-8"),
    (["set-password", "\udcff@example.com", "--password-stdin"], b"long-enough-1\n", "not valid UTF-8"),
    (["set-password", "viewer@example.com", "--password-stdin"], b"\xff\xfe-not-utf-8\n", "not valid UTF-8"),
    (["create-user", "a" * 251 + "@x.io", "--password-stdin"], b"long-enough-1\n", "at most 255 characters"),
    (["create-user", "ok@example.com", "--name", "d" * 121, "--password-stdin"], b"long-enough-1\n",
     "at most 120 characters"),
])
def test_input_the_database_cannot_take_exits_2_with_one_line(cli, args, stdin, mention):
    """Each was a traceback: a UnicodeEncodeError in the driver, a UnicodeDecodeError reading stdin, or (on
    PostgreSQL) a DataError for text longer than its column."""
    result = invoke(cli, args, input=stdin)
    assert result.exit_code == 2 and mention in result.output


def test_create_user_with_a_long_local_part_gets_a_name_that_fits(cli):
    email = "m" * 130 + "@example.com"
    assert invoke(cli, ["create-user", email, "--password-stdin"], input=b"long-enough-1\n").exit_code == 0
    assert len(find_user(email).display_name) == 120
