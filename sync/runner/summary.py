"""What a run reports: its summary (printed for humans and as JSON) and progress callbacks."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from sync.errors import EXIT_OK, EXIT_REJECTED
from sync.match_keys import MATCH_KEYS


@dataclass
class RunSummary:
    """What a run did; printed for humans and as JSON (`--json`)."""

    run_id: str
    sync_name: str
    command: str = "run"
    status: str = "running"
    dry_run: bool = False
    full_refresh: bool = False
    rows_read: int = 0
    events_sent: int = 0
    events_written: int = 0        # dry run: events written to the output file
    batches_sent: int = 0
    requests: int = 0
    retries: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    rejected_by_api: int = 0
    dead_lettered: int = 0
    failed: int = 0
    resolved: int = 0              # dead-letter retry: dead letters now delivered
    match_keys: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MATCH_KEYS, 0))   # sent events carrying each
    not_found: list[str] = field(default_factory=list)
    watermark_before: int | None = None
    watermark_after: int | None = None
    output: str | None = None
    seconds: float = 0.0
    error: str | None = None
    exit_code: int = EXIT_OK
    rejected_share: float = 0.0    # events the API rejected / events it answered for (accepted + rejected)
    alert: str | None = None       # set with exit 7: the rejected share is above destination.max_rejected_share

    def to_dict(self) -> dict:
        return asdict(self)

    def check_rejected_share(self, max_share: float) -> None:
        """A finished run whose API rejections exceed `max_share` of the answered events exits
        EXIT_REJECTED, so a scheduler can alert (the rejected events are dead letters)."""
        answered = self.events_sent + self.rejected_by_api
        self.rejected_share = round(self.rejected_by_api / answered, 6) if answered else 0.0
        if self.rejected_by_api and self.rejected_by_api > max_share * answered and self.exit_code == EXIT_OK:
            self.exit_code = EXIT_REJECTED
            self.alert = (f"the API rejected {self.rejected_by_api} of {answered} events ({self.rejected_share:.1%}), "
                          f"more than destination.max_rejected_share ({max_share:g}); they are dead letters: "
                          "capi-sync dead-letter list")


class Progress:
    """Progress callbacks; the CLI plugs in a tqdm bar or log lines."""

    def start(self, summary: RunSummary) -> None: ...
    def update(self, summary: RunSummary, events: int) -> None: ...
    def close(self) -> None: ...
