"""Process-level tuning of the `capi-sync` command (not applied when the package is imported
as a library).

- pandas is refused: DuckDB and pyarrow import it, when it is installed, only to check
  whether a value is a DataFrame (any query parameter, any `pa.array` from a list). The sync
  never uses it, and the import costs about 40 MiB of resident memory and 0.3 s per run.
  With the import refused, both libraries take their pandas-free paths.
"""
from __future__ import annotations

import importlib.abc
import sys


class _RefusePandas(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname == "pandas" or fullname.startswith("pandas."):
            raise ModuleNotFoundError(f"No module named {fullname!r} (refused by capi-sync: not needed)",
                                      name=fullname)
        return None


def refuse_pandas() -> None:
    """Make `import pandas` fail in this process (unless it is already imported)."""
    if "pandas" in sys.modules or any(isinstance(f, _RefusePandas) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _RefusePandas())

