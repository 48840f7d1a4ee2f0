"""Several syncs in one file (sync/syncs.py): entries merged over the shared keys, shorthands,
one-line errors under `syncs.<name>.`, the worst exit code, choosing syncs."""
from __future__ import annotations

import textwrap

import pytest

from sync.config import parse_config
from sync.errors import ConfigError
from sync.syncs import parse_syncs, select, worst_exit_code

FILE = textwrap.dedent("""\
    source: {type: duckdb, path: w.duckdb, chunk_size: 700}
    destination: {endpoint: "http://127.0.0.1:9", batch_size: 250}
    syncs:
      - name: east
        relation: analytics.east
        dataset_id: "111"
        access_token_env: TOKEN_EAST
      - name: west
        source: {relation: analytics.west}
        destination: {dataset_id: "222", access_token: "{{ env_var('TOKEN_WEST') }}", batch_size: 40}
    """)


def test_entries_merge_over_the_shared_keys(monkeypatch):
    monkeypatch.setenv("TOKEN_EAST", "tok-east-1")
    monkeypatch.setenv("TOKEN_WEST", "tok-west-2")
    east, west = parse_syncs(FILE, "f.yml")
    assert [(e.name, e.error) for e in (east, west)] == [("east", None), ("west", None)]
    a, b = east.config, west.config
    assert (a.name, a.source.relation, a.source.chunk_size, a.source.path) == ("east", "analytics.east", 700, "w.duckdb")
    assert (a.destination.dataset_id, a.destination.batch_size, a.destination.access_token.get_secret_value()) == (
        "111", 250, "tok-east-1")
    assert (b.source.relation, b.destination.dataset_id, b.destination.batch_size) == ("analytics.west", "222", 40)
    assert b.destination.access_token.get_secret_value() == "tok-west-2"
    assert b.destination.endpoint == a.destination.endpoint == "http://127.0.0.1:9"


def test_a_file_without_syncs_is_one_sync(monkeypatch):
    monkeypatch.setenv("T", "tok-x")
    text = 'name: solo\ndestination: {dataset_id: "5", access_token: "{{ env_var(\'T\') }}"}\n'
    (entry,) = parse_syncs(text, "f.yml")
    assert entry.name == "solo" and entry.config == parse_config(text, "f.yml")


def test_an_entrys_problem_is_its_own(monkeypatch):
    monkeypatch.setenv("TOKEN_EAST", "tok-east-1")
    monkeypatch.delenv("TOKEN_WEST", raising=False)
    east, west = parse_syncs(FILE.replace('dataset_id: "111"', 'dataset_id: "x1"'), "f.yml")
    assert str(east.error) == "f.yml: syncs.east.destination.dataset_id: must be the dataset (pixel) id, digits only (got 'x1')"
    assert west.config is None and str(west.error) == (
        "f.yml: syncs.west.destination.access_token: environment variable TOKEN_WEST is not set "
        "(set it, or give a default: env_var('TOKEN_WEST', '...'))")


@pytest.mark.parametrize("change, message", [
    (lambda t: "name: top\n" + t, "f.yml: name: with `syncs:`, each sync has its own name (syncs[].name)"),
    (lambda t: t.replace("name: west", "name: east"),
     "f.yml: syncs.1.name: 'east' is the name of an earlier sync; names must differ"),
    (lambda t: t.replace("- name: west\n   ", "-"), "f.yml: syncs.1.name: is required (each sync has its own name)"),
    (lambda t: t.split("syncs:")[0] + "syncs: []\n", "f.yml: syncs: must be a list of syncs, each with a name"),
])
def test_file_level_problems_are_one_line(change, message):
    with pytest.raises(ConfigError) as info:
        parse_syncs(change(FILE), "f.yml")
    assert str(info.value) == message


def test_the_token_variable_must_be_a_name(monkeypatch):
    (east, _) = parse_syncs(FILE.replace("TOKEN_EAST", "\"X') }}{{ 7*7 }}\""), "f.yml")
    assert str(east.error).startswith("f.yml: syncs.east.access_token_env: must be an environment variable name")


def test_worst_exit_code_puts_what_a_person_must_fix_first():
    assert worst_exit_code([0, 0]) == 0
    assert worst_exit_code([0, 5, 4]) == 4
    assert worst_exit_code([4, 6, 5]) == 6
    assert worst_exit_code([6, 3, 4]) == 3
    assert worst_exit_code([3, 2]) == 2
    assert worst_exit_code([2, 1, 0]) == 1
    assert worst_exit_code([1, 130]) == 130


def test_select(monkeypatch):
    monkeypatch.setenv("TOKEN_EAST", "t1")
    monkeypatch.setenv("TOKEN_WEST", "t2")
    entries = parse_syncs(FILE, "f.yml")
    assert [e.name for e in select(entries, "west", False, "f.yml", "run")] == ["west"]
    assert [e.name for e in select(entries, None, True, "f.yml", "run")] == ["east", "west"]
    with pytest.raises(ConfigError, match=r"^f.yml: no sync named 'north' \(the file has: east, west\)$"):
        select(entries, "north", False, "f.yml", "run")
    with pytest.raises(ConfigError, match=r"^f.yml: syncs: has 2 syncs \(east, west\): choose one with "
                                          r"`capi-sync dead-letter --sync NAME`$"):
        select(entries, None, False, "f.yml", "dead-letter")
