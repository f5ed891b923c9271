"""Verb ``report``: an HTML run report of one execution (default: the last ``fanout run`` of the stack).

Writes ``reports/runs/<execution>/index.html`` (self-contained: pictures embedded, nothing loaded from
the network) and ``timeline.png`` beside it, and prints their paths.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from fanout_tools.deploy import add_target_arguments
from fanout_tools.executions import add_execution_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser)
    add_execution_argument(parser, "report on")
    parser.add_argument(
        "--out", type=Path, default=None, help="folder for the report (default reports/runs/)"
    )


def build(data: Any, folder: Path) -> tuple[Path, Path]:
    """Write ``index.html`` and ``timeline.png`` for ``data`` (a RunData) into ``folder``."""
    from fanout_tools.report import charts, cost, html

    folder.mkdir(parents=True, exist_ok=True)
    timeline = charts.timeline_rows(data)
    timeline_png = charts.timeline_png(data, timeline)
    page = html.render(data, timeline, cost.estimate(data), timeline_png, charts.distributions_png(data))
    png_path = folder / "timeline.png"
    png_path.write_bytes(timeline_png)
    html_path = folder / "index.html"
    html_path.write_text(page)
    return html_path, png_path


def run(args: argparse.Namespace) -> int:
    from fanout_tools.deploy import deployed
    from fanout_tools.executions import resolve
    from fanout_tools.paths import repo_root
    from fanout_tools.report.collect import collect

    started = time.monotonic()
    stack, outputs = deployed(args)
    arn = resolve(stack, outputs, args.execution)
    data = collect(stack, outputs, arn)
    folder = (args.out or repo_root() / "reports" / "runs") / data.name
    html_path, png_path = build(data, folder)
    calls = sum(data.api_calls.values())
    print(
        f"report: {data.name} ({data.status}, {data.items:,} items, {calls:,} API calls, "
        f"{time.monotonic() - started:.1f} s)"
    )
    print(f"  html: {html_path}")
    print(f"  timeline: {png_path}")
    print(f"open it: xdg-open {html_path}  (macOS: open {html_path})")
    return 0
