"""One sync run in named steps: plan (what to read), read (ReadyChunks, read ahead), batch
(requests within the count and byte caps), deliver (several in flight), commit (group commits
of ledger, dead letters and watermark). `SyncRun` (run.py) runs them in that order."""
from sync.runner.plan import READ_FLOOR_AGE
from sync.runner.run import SyncRun, lock_file_path
from sync.runner.summary import Progress, RunSummary

__all__ = ["READ_FLOOR_AGE", "Progress", "RunSummary", "SyncRun", "lock_file_path"]
