"""Verb ``bench``: its arguments, and the table on stdout (see :mod:`fanout_tools.bench`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fanout_tools.bench.designs import DEFAULT_SIZES, DESIGNS, EXECUTION_TIMEOUT_SECONDS, MODES, SAMPLE
from fanout_tools.errors import ConfigError
from fanout_tools.paths import repo_root


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sizes",
        default=",".join(str(s) for s in DEFAULT_SIZES),
        help="comma-separated item counts (default: %(default)s)",
    )
    parser.add_argument(
        "--designs",
        default=",".join(DESIGNS),
        help="comma-separated designs: sample and/or modes (default: %(default)s)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="where to save the table (default reports/bench.md)"
    )
    parser.add_argument("--no-executions", action="store_true", help="only the generator and the projections")
    parser.add_argument(
        "--run-ceiling", type=int, default=None, help="largest execution to run locally (default: per design)"
    )
    parser.add_argument(
        "--execution-timeout",
        type=float,
        default=EXECUTION_TIMEOUT_SECONDS,
        help="stop an execution that runs longer than this many seconds (default: %(default)s)",
    )


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(s.replace("_", "")) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(
            f"--sizes {text!r} is not a list of integers", "e.g. --sizes 100,1000,10000"
        ) from None
    if not sizes or any(s < 1 for s in sizes):
        raise ConfigError("--sizes needs positive item counts", "e.g. --sizes 100,1000")
    return sizes


def parse_designs(text: str) -> list[str]:
    designs = list(dict.fromkeys(d.strip() for d in text.split(",") if d.strip()))
    unknown = sorted(set(designs) - set(DESIGNS))
    if unknown or not designs:
        raise ConfigError(f"unknown design(s) {unknown}", f"use {SAMPLE} and/or {', '.join(MODES)}")
    return designs


def run(args: argparse.Namespace) -> int:
    from fanout_tools.bench.measure import bench
    from fanout_tools.bench.report import reader_text, table_text

    sizes = parse_sizes(args.sizes)
    designs = parse_designs(args.designs)
    if args.execution_timeout < 60:
        raise ConfigError(
            f"--execution-timeout {args.execution_timeout:g} is below 60 s",
            "a state machine's TimeoutSeconds is at least 60 here (execution_timeout_seconds)",
        )
    out = args.out or repo_root() / "reports" / "bench.md"
    measured = bench(
        sizes,
        designs,
        out,
        run_executions=not args.no_executions,
        run_ceiling=args.run_ceiling,
        execution_timeout=args.execution_timeout,
    )
    readers = reader_text(measured.readers)
    sys.stdout.write(
        table_text(measured.rows) + (f"\n\n{readers}" if readers else "") + f"\n\nsaved: {out}\n"
    )
    return 0
