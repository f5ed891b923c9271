"""The single CLI entry point: ``fanout <verb> ...``. The Makefile calls only this.

Each verb lives in its own module exposing ``add_arguments(parser)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from fanout_tools.errors import FanoutError

# verb -> (module, one-line help). Modules are imported only when their verb runs,
# so a slow import (checkov, moto) never slows the other verbs.
VERBS: dict[str, tuple[str, str]] = {
    "validate": (
        "fanout_tools.validate",
        "terraform validate the root with every module it calls, offline",
    ),
    "tf": ("fanout_tools.tf", "run terraform init/plan/apply/destroy/output for a target"),
    "sandbox": (
        "fanout_tools.sandbox.cli",
        "start, stop or inspect the local sandbox account, or inject faults (up|down|status|fault)",
    ),
    "plan": ("fanout_tools.plan", "terraform plan against TARGET (sandbox by default)"),
    "apply": (
        "fanout_tools.apply",
        "deploy the stack to TARGET (sandbox by default: starts the local account)",
    ),
    "destroy": ("fanout_tools.destroy", "remove everything from TARGET (and stop the sandbox)"),
    "unlock": ("fanout_tools.unlock", "release a stale Terraform state lock (a killed command left it)"),
    "run": (
        "fanout_tools.run",
        "start an execution (--items N | --input FILE) with live progress and a summary",
    ),
    "report": ("fanout_tools.report.cli", "an HTML run report: timeline, throughput, failures, cost"),
    "status": ("fanout_tools.status", "an execution's failed items (where, why, log tail), then its counts"),
    "stop": ("fanout_tools.stop", "stop an execution and terminate its queued and running Batch jobs"),
    "redrive": ("fanout_tools.redrive", "resume a stopped, timed-out or failed execution where it stopped"),
    "rerun-failed": ("fanout_tools.rerun", "run exactly the failed items of an execution again"),
    "render": ("fanout_tools.render", "render the state-machine definitions and IAM policies (all modes)"),
    "package": ("fanout_tools.package", "build the generator Lambda zip reproducibly"),
    "bench": ("fanout_tools.bench.cli", "benchmark every fan-out mode beside the AWS sample design"),
    "scan": ("fanout_tools.scan", "checkov compliance scan (offline): source and plan, reports/"),
    "docs": ("fanout_tools.docs", "write the README's variable and output tables (--check: fail if stale)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fanout", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the tool does")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for verb, (module_name, help_text) in VERBS.items():
        verb_parser = sub.add_parser(verb, help=help_text, description=help_text)
        verb_parser.set_defaults(_module=module_name)
        # Argument definitions are cheap; import only the module's argument hook lazily.
        _module(module_name).add_arguments(verb_parser)
    return parser


def _module(name: str):  # type: ignore[no-untyped-def]
    return importlib.import_module(name)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(_module(args._module).run(args) or 0)
    except FanoutError as err:
        print(f"error: {err.message}", file=sys.stderr)
        if err.hint:
            print(f"  what to do: {err.hint}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
