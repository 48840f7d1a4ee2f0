"""`capi-sync report`: what reached Meta, from the sync's state tables, as figures (JSON) and one
self-contained HTML page of charts (sync.report.page)."""
from sync.report.figures import report_figures

__all__ = ["report_figures"]
