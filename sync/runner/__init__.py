"""One sync run in named steps, run in this order by `SyncRun` (run.py): plan, read, batch,
deliver, commit (docs/sync.md)."""
from sync.runner.run import SyncRun, lock_file_path
from sync.runner.summary import Progress, RunSummary

__all__ = ["Progress", "RunSummary", "SyncRun", "lock_file_path"]
