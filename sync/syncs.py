"""Several syncs in one configuration file (docs/sync.md, Several syncs): each entry of `syncs:`
is merged over the file's other keys (mappings key by key, anything else replaced) and read as
a single-sync file is (`sync.config.parse_config`). A file without `syncs:` is one sync.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sync.config import SyncConfig, load_config, parse_config
from sync.config_render import read_document
from sync.errors import (EXIT_CONFIG, EXIT_DESTINATION_REFUSED, EXIT_INTERNAL, EXIT_LOCKED, EXIT_OK,
                         EXIT_RETRIES_EXHAUSTED, EXIT_SOURCE, ConfigError)

# Shorthands of an entry -> the key path they stand for.
SHORTHANDS = {"relation": ("source", "relation"), "dataset_id": ("destination", "dataset_id")}
TOKEN_ENV_KEY = "access_token_env"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# The worst first: what a person must fix before what passes on its own (a scheduler then
# does not retry a file whose worst sync needs a person; docs/deploy.md).
SEVERITY = (EXIT_INTERNAL, EXIT_CONFIG, EXIT_DESTINATION_REFUSED, EXIT_SOURCE, EXIT_RETRIES_EXHAUSTED,
            EXIT_LOCKED, EXIT_OK)


@dataclass(frozen=True)
class SyncEntry:
    """One sync of a file: its name and its configuration, or the one-line error that
    keeps it from running (the others still run)."""

    name: str
    config: SyncConfig | None = None
    error: ConfigError | None = None

    def checked_config(self) -> SyncConfig:
        """The configuration; raises the entry's error when it has one."""
        if self.error is not None:
            raise self.error
        return self.config


def worst_exit_code(codes: list[int]) -> int:
    """The exit code of several syncs: the worst of theirs (SEVERITY; interrupted above all)."""
    if 130 in codes:
        return 130
    unknown = [c for c in codes if c not in SEVERITY]
    return max(unknown) if unknown else min(codes, key=SEVERITY.index, default=EXIT_OK)


def _merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        return {**base, **{key: _merge(base.get(key), value) for key, value in override.items()}}
    return override


def _entry_document(entry: dict, shared: dict, file: str) -> dict:
    """The single-sync document of one entry: its shorthands expanded, merged over `shared`."""
    entry = dict(entry)
    override: dict = {}
    for key, (section, name) in SHORTHANDS.items():
        if key in entry:
            override.setdefault(section, {})[name] = entry.pop(key)
    if TOKEN_ENV_KEY in entry:
        var = entry.pop(TOKEN_ENV_KEY)
        if not isinstance(var, str) or not _ENV_NAME.match(var):
            raise ConfigError(file, TOKEN_ENV_KEY, f"must be an environment variable name (got {var!r})")
        override.setdefault("destination", {})["access_token"] = "{{ env_var('" + var + "') }}"
    return _merge(_merge(shared, entry), override)


def parse_syncs(text: str, file: str = "<config>") -> list[SyncEntry]:
    """The syncs of config text, in file order (one for a file without `syncs:`)."""
    raw = read_document(text, file)
    if not isinstance(raw, dict) or "syncs" not in raw:
        config = parse_config(text, file)
        return [SyncEntry(config.name, config)]
    shared = {k: v for k, v in raw.items() if k != "syncs"}
    if "name" in shared:
        raise ConfigError(file, "name", "with `syncs:`, each sync has its own name (syncs[].name)")
    entries = raw["syncs"]
    if not isinstance(entries, list) or not entries:
        raise ConfigError(file, "syncs", "must be a list of syncs, each with a name")
    result: list[SyncEntry] = []
    for i, entry in enumerate(entries):
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name:
            raise ConfigError(file, f"syncs.{i}.name", "is required (each sync has its own name)")
        if any(e.name == name for e in result):
            raise ConfigError(file, f"syncs.{i}.name", f"'{name}' is the name of an earlier sync; names must differ")
        where = f"syncs.{name}"
        try:
            document = json.dumps(_entry_document(entry, shared, file), default=str)
            result.append(SyncEntry(name, parse_config(document, file)))
        except ConfigError as exc:
            error = ConfigError(file, f"{where}.{exc.key}" if exc.key else where, exc.detail)
            result.append(SyncEntry(name, error=error))
    return result


def load_syncs(path: str) -> list[SyncEntry]:
    """The syncs of a config file; ConfigError (one line) when the file cannot be read."""
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError):
        config = load_config(path)   # raises the file's one-line error (not found, not UTF-8)
        return [SyncEntry(config.name, config)]
    return parse_syncs(text, str(path))


def select(entries: list[SyncEntry], name: str | None, all_syncs: bool, file: str,
           command: str) -> list[SyncEntry]:
    """The syncs a command acts on: `--sync NAME`, `--all`, or the file's only sync."""
    if name is not None:
        chosen = [e for e in entries if e.name == name]
        if not chosen:
            raise ConfigError(file, None, f"no sync named '{name}' (the file has: "
                                          f"{', '.join(e.name for e in entries)})")
        return chosen
    if all_syncs or len(entries) == 1:
        return entries
    raise ConfigError(file, "syncs", f"has {len(entries)} syncs ({', '.join(e.name for e in entries)}): "
                                     f"choose one with `capi-sync {command} --sync NAME`"
                                     + (" or run them in turn with --all" if command == "run" else ""))
