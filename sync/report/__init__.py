"""`capi-sync report`: what reached Meta, from the sync's state tables, as figures (JSON,
sync.report.figures) and one self-contained HTML page of charts (sync.report.page)."""
