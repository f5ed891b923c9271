"""One self-contained HTML file: inline CSS, pictures as data: URIs, the timeline's rows as JSON.

The page is ``templates/report/run.html.j2`` (Jinja, autoescaped).

Nothing in it loads anything from the network (no script, font, style or image by URL); the price
sources are printed as text. Machine-readable parts, for tests and other tools:
``<script type="application/json" id="timeline-data">`` (the timeline's rows) and
``<script type="application/json" id="run-data">`` (the run's counts).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import jinja2

from fanout_tools.paths import templates_dir
from fanout_tools.report.collect import RunData
from fanout_tools.report.cost import Estimate
from fanout_tools.targets.base import BATCH_ENDED_STATUSES


def _noscheme(url: str) -> str:
    return url.split("://", 1)[-1]


def _script_json(value: Any) -> str:
    """JSON safe inside a <script> element (no '</' can close it)."""
    return json.dumps(value, separators=(",", ":")).replace("</", "<\\/")


def render(
    data: RunData,
    timeline: dict[str, Any],
    estimate: Estimate,
    timeline_png: bytes,
    distributions_png: bytes,
    generated: dt.datetime | None = None,
) -> str:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["noscheme"] = _noscheme
    counts = data.item_counts()
    others = ", ".join(
        f"{n:,} {s.lower()}" for s, n in sorted(counts.items()) if s not in BATCH_ENDED_STATUSES
    )
    run_json = {
        "execution_arn": data.execution_arn,
        "status": data.status,
        "items": data.items,
        "counts": dict(counts),
        "jobs": len(data.jobs),
        "failed_shown": len(data.failures),
        "cost_usd": [round(estimate.low, 6), round(estimate.high, 6)],
    }
    when = generated or dt.datetime.now(dt.UTC)
    return env.from_string((templates_dir() / "report" / "run.html.j2").read_text()).render(
        run=data,
        counts=counts,
        others=others,
        batches=sum(1 for j in data.jobs if j.array_size),
        started=dt.datetime.fromtimestamp(data.start, dt.UTC).strftime("%Y-%m-%d %H:%M:%S"),
        timeline=timeline,
        timeline_png=base64.b64encode(timeline_png).decode(),
        distributions_png=base64.b64encode(distributions_png).decode(),
        sampled=any("sampl" in n for n in data.notes),
        cost=estimate,
        calls=sorted(data.api_calls.items()),
        generated=when.strftime("%Y-%m-%d %H:%M:%S"),
        run_json=jinja2.utils.markupsafe.Markup(_script_json(run_json)),
        timeline_json=jinja2.utils.markupsafe.Markup(_script_json(timeline)),
    )
