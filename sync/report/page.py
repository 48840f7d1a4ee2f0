"""The report as one self-contained HTML file: plotly charts (plotly.js inlined once, no request
when opened) with each figure also as a table beside its chart (docs/sync.md, report)."""
from __future__ import annotations

import datetime as dt
import html
import os

from sync.errors import InputError
from sync.match_keys import MATCH_KEYS

DEFAULT_OUTPUT = "data/capi-sync-report.html"
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
          "#bcbd22", "#17becf", "#393b79")
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1180px;color:#1c1e21}
h1{font-size:22px;margin-bottom:4px} h2{font-size:17px;margin:28px 0 6px;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#606770;font-size:13px} .cards{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}
.card{border:1px solid #dadde1;border-radius:8px;padding:10px 14px;min-width:130px}
.card b{display:block;font-size:22px} .card span{color:#606770;font-size:12px}
table{border-collapse:collapse;font-size:13px;margin:6px 0} td,th{border:1px solid #e4e6eb;padding:3px 8px;text-align:right}
th{background:#f5f6f7} td:first-child,th:first-child{text-align:left} .grid{display:grid;grid-template-columns:1fr 1fr;gap:12px}
.empty{color:#606770;font-style:italic}
"""


def _plotly():
    try:
        import plotly.graph_objects as go
        import plotly.offline
    except ImportError:
        raise InputError("capi-sync report needs plotly: pip install 'capi-sync[report]'") from None
    return go, plotly.offline


def _e(value) -> str:
    return html.escape("" if value is None else str(value))


def _percent(share: float) -> str:
    return f"{share * 100:.1f}%"


def _table(headers: list[str], rows: list[list], attrs: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table {attrs}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class _Charts:
    def __init__(self):
        self.go, self.offline = _plotly()
        self.count = 0

    def div(self, fig, **layout) -> str:
        """The chart's <div>: `layout` (its title, axes) over the page's common layout."""
        fig.update_layout(**layout)
        fig.update_layout(height=320, margin=dict(l=50, r=20, t=40, b=40), template="plotly_white",
                          legend=dict(orientation="h", y=-0.2))
        self.count += 1
        return fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"chart-{self.count}",
                           config={"displaylogo": False, "displayModeBar": False, "responsive": True})

    def bar(self, title: str, x: list, y: list, **layout) -> str:
        return self.div(self.go.Figure(self.go.Bar(x=x, y=y, marker_color=COLORS[0])), title=title, **layout)


def _match_key_section(c: _Charts, figures: dict) -> str:
    shares, counts = figures["match_keys"], figures["match_key_counts"]
    period = c.div(c.go.Figure(c.go.Bar(x=list(MATCH_KEYS), y=[shares[k] for k in MATCH_KEYS],
                                        marker_color=COLORS[2], text=[_percent(shares[k]) for k in MATCH_KEYS],
                                        textposition="outside")),
                   title=f"Share of the {figures['match_key_events']} sent events carrying each match key",
                   yaxis=dict(tickformat=".0%", range=[0, 1.1]))
    days = figures["match_keys_per_day"]
    over_time = c.div(c.go.Figure([c.go.Scatter(x=[d["day"] for d in days], y=[d["shares"][k] for d in days],
                                                name=k, mode="lines+markers", line=dict(color=COLORS[i]))
                                   for i, k in enumerate(MATCH_KEYS)]),
                      title="Match-key share per day", yaxis=dict(tickformat=".0%", range=[0, 1.05]),
                      xaxis=dict(type="category"))
    rows = [[k, counts[k], _percent(shares[k])] for k in MATCH_KEYS]
    table = _table(["match key", "events carrying it", "share"], rows, 'id="match-keys"')
    return f"<h2>Match keys</h2><div class='grid'><div>{period}</div><div>{over_time}</div></div>{table}"


def _events_section(c: _Charts, figures: dict) -> str:
    days, runs = figures["events_per_day"], figures["runs"]
    per_day = c.bar("Events sent per day", [d["day"] for d in days], [d["events"] for d in days],
                    xaxis=dict(type="category"))
    per_run = c.bar("Events sent per run", [r["run_id"] for r in runs], [r["events_sent"] for r in runs],
                    xaxis=dict(type="category"))
    durations = c.bar("Run duration (s)", [r["run_id"] for r in runs], [r["seconds"] for r in runs],
                      xaxis=dict(type="category"))
    table = _table(["run", "started (UTC)", "status", "rows read", "events sent", "skipped", "dead-lettered", "seconds"],
                   [[r["run_id"], str(r["started_at"])[:19], r["status"], r["rows_read"], r["events_sent"],
                     r["skipped"], r["dead_lettered"], r["seconds"]] for r in runs], 'id="runs"')
    return (f"<h2>Events sent</h2><div class='grid'><div>{per_day}</div><div>{per_run}</div></div>"
            f"<h2>Runs</h2>{durations}{table}")


def _problems_section(c: _Charts, figures: dict) -> str:
    skipped, letters, codes = figures["skipped_by_reason"], figures["dead_letters_by_reason"], figures["api_rejections_by_code"]
    parts = ["<h2>Skipped, dead-lettered and rejected</h2><div class='grid'>"]
    if skipped:
        parts.append(f"<div>{c.bar('Skipped by reason (sum over runs)', list(skipped), list(skipped.values()))}</div>")
    if letters:
        parts.append("<div>" + c.bar("Dead letters by reason", [f"{d['stage']}/{d['reason']}" for d in letters],
                                     [d["count"] for d in letters]) + "</div>")
    if codes:
        parts.append("<div>" + c.bar("API rejections by Graph code", [f"{d['code']}/{d['error_subcode']}" for d in codes],
                                     [d["count"] for d in codes], xaxis=dict(type="category")) + "</div>")
    parts.append("</div>")
    if not (skipped or letters or codes):
        parts.append("<p class='empty'>Nothing was skipped, dead-lettered or rejected in this period.</p>")
    parts.append(_table(["skip reason", "rows"], [[k, v] for k, v in skipped.items()], 'id="skipped"'))
    parts.append(_table(["stage", "reason", "dead letters"], [[d["stage"], d["reason"], d["count"]] for d in letters],
                        'id="dead-letters"'))
    parts.append(_table(["Graph code", "subcode", "events rejected"],
                        [[d["code"], d["error_subcode"], d["count"]] for d in codes], 'id="api-rejections"'))
    return "".join(parts)


def _quality_section(c: _Charts, figures: dict) -> str:
    quality = figures["quality"]
    if not quality["latest"]:
        return ("<h2>Dataset Quality (Meta)</h2><p class='empty'>No answer of the Dataset Quality API in this "
                "period: run <code>capi-sync quality</code>.</p>")
    scores = ("composite_score", "match_key_score", "frequency_score", "freshness_score")
    latest = quality["latest"]
    scores_now = c.div(c.go.Figure([c.go.Bar(name=row["event_name"], x=[s.replace("_score", "") for s in scores],
                                             y=[row[s] for s in scores], text=[row[s] for s in scores],
                                             textposition="outside") for row in latest]),
                       title=f"Dataset Quality (of 10), {str(latest[0]['fetched_at'])[:16]} UTC",
                       yaxis=dict(range=[0, 11]))
    history = quality["history"]
    names = sorted({row["event_name"] for row in history})
    trend = c.div(c.go.Figure([c.go.Scatter(x=[r["fetched_at"] for r in history if r["event_name"] == n],
                                            y=[r["composite_score"] for r in history if r["event_name"] == n],
                                            name=n, mode="lines+markers") for n in names]),
                  title="Composite score over time", yaxis=dict(range=[0, 10.5]))
    table = _table(["event", "composite", "match key", "frequency", "freshness", "email coverage", "phone coverage"],
                   [[r["event_name"], r["composite_score"], r["match_key_score"], r["frequency_score"],
                     r["freshness_score"], r["email_coverage"], r["phone_coverage"]] for r in latest], 'id="quality"')
    notes = "".join(f"<li>{_e(r['event_name'])} {_e(k)}: {_e(v)}</li>"
                    for r in latest for k, v in sorted(r["recommendations"].items()))
    return (f"<h2>Dataset Quality (Meta)</h2><div class='grid'><div>{scores_now}</div><div>{trend}</div></div>"
            f"{table}<ul>{notes}</ul>")


def render_page(figures: dict) -> str:
    """The whole page (UTF-8 text)."""
    charts = _Charts()
    totals = figures["totals"]
    since = figures["period"]["since"]
    cards = [("events sent", totals["events_sent"]), ("runs", totals["runs"]), ("skipped", totals["skipped"]),
             ("dead-lettered", totals["dead_lettered"]), ("rejected by the API", totals["rejected_by_api"]),
             ("failed runs", totals["failed_runs"])]
    card_html = "".join(f"<div class='card' data-figure='{_e(name)}'><b>{_e(v)}</b><span>{_e(name)}</span></div>"
                        for name, v in cards)
    sections = (_events_section(charts, figures) + _match_key_section(charts, figures)
                + _problems_section(charts, figures) + _quality_section(charts, figures))
    plotly_js = charts.offline.get_plotlyjs()
    period = f"since {since:%Y-%m-%d %H:%M} UTC" if isinstance(since, dt.datetime) else "all history"
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>capi-sync report: {_e(figures['sync_name'])}</title><style>{_CSS}</style>"
        f"<script>{plotly_js}</script></head><body>"
        f"<h1>What reached Meta: sync '{_e(figures['sync_name'])}'</h1>"
        f"<p class='meta'>{_e(period)}, until {figures['period']['until']:%Y-%m-%d %H:%M} UTC; "
        "from the sync's state tables (counts only; no identifier, no secret).</p>"
        f"<div class='cards'>{card_html}</div>{sections}</body></html>")


def write_page(figures: dict, path: str) -> None:
    """Write the page next to its final name, then rename (a reader never sees half a page)."""
    text = render_page(figures)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    temporary = f"{path}.tmp-{os.getpid()}"
    with open(temporary, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(temporary, path)
