"""Validate a rendered state-machine definition before Terraform sees it.

Four independent checks, all run by ``fanout render`` on every variant it writes (and by
``fanout validate`` on every mode):

1. :func:`language_service` — AWS's own ASL language service (npm ``amazon-states-language-service``,
   the validator behind AWS's editor tooling), run by ``scripts/asl-validator/validate.mjs`` with the
   versions pinned in its ``package-lock.json``. Any diagnostic fails: it checks the definition against
   AWS's JSON schema (``ToleratedFailurePercentage`` must be an integer) and the state graph (a ``Next``
   that names no state, unreachable states).
2. :func:`lint` — statelint (PyPI, 3.1.0), the AWS-published ASL linter. It predates some current
   Distributed Map fields, so two of its messages are known false positives and are ignored
   *by exact pattern* (anything else fails): ``Label`` (a documented Distributed Map field) and
   ``ReaderConfig.InputType`` (documented ItemReader field).
3. :func:`moto_parse` — the ASL parser moto's interpreter runs (``AmazonStateLanguageParser.parse``,
   the entry point used by ``moto.stepfunctions.parser`` when creating/executing a state machine).
   It rejects an integer ``ToleratedFailurePercentage``, which AWS's schema requires: that gap of
   moto is filled by ``fanout_tools.sandbox.compat.accept_integer_tolerated_failure_percentage``,
   which this check installs first, so the check reports only what the sandbox would really reject.
4. :func:`check_arn_provenance` — every ARN is built from a Terraform placeholder: in the template each
   ``arn:`` is followed by ``${partition}`` (or the whole value is one placeholder), and in a concrete
   render made with sentinel values no other partition, region or account ID appears.

:func:`templatefile` substitutes values the way Terraform's ``templatefile()`` does for the only two
interpolation forms the templates use: ``${name}`` and ``${format("%.2f", name)}``.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import logging
import re
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

from fanout_tools.errors import ConfigError, FanoutError, ToolMissingError
from fanout_tools.paths import repo_root

STATELINT_FALSE_POSITIVES = (
    re.compile(r'^Field "Label" not allowed in State Machine\.'),
    re.compile(r'^Field "InputType" not allowed in State Machine\..*\.ItemReader\.ReaderConfig$'),
)
_INTERPOLATION = re.compile(r"\$\{(?P<expr>[^}]*)\}")
_FORMAT = re.compile(r'^format\("(?P<fmt>%\.\d+f)", (?P<name>[a-z_]+)\)$')
_NAME = re.compile(r"^[a-z_]+$")


class InvalidDefinitionError(ConfigError):
    """A rendered definition failed ASL validation."""


def templatefile(text: str, values: dict[str, Any]) -> str:
    """Render a ``.tftpl`` like Terraform's ``templatefile()`` (raw substitution, no escaping)."""

    def substitute(match: re.Match[str]) -> str:
        expr = match["expr"]
        fmt = _FORMAT.match(expr)
        name = fmt["name"] if fmt else expr
        if not _NAME.match(name):
            raise InvalidDefinitionError(
                f"template uses an interpolation this tool cannot evaluate: ${{{expr}}}",
                'use only ${name} or ${format("%.2f", name)} in templates',
            )
        if name not in values:
            raise InvalidDefinitionError(
                f"template needs variable {name!r}, which was not given", "pass every template variable"
            )
        value = values[name]
        return fmt["fmt"] % float(value) if fmt else str(value)

    return _INTERPOLATION.sub(substitute, text)


def template_variables(text: str) -> set[str]:
    """The variable names a ``.tftpl`` references."""
    names = set()
    for match in _INTERPOLATION.finditer(text):
        fmt = _FORMAT.match(match["expr"])
        names.add(fmt["name"] if fmt else match["expr"])
    return names


def lint(definition: dict[str, Any]) -> list[str]:
    """statelint problems, minus the documented false positives."""
    from statelint.linter import Linter

    return [
        p for p in Linter.validate(definition) if not any(fp.search(p) for fp in STATELINT_FALSE_POSITIVES)
    ]


def moto_parse(text: str) -> None:
    """Parse with moto's ASL parser as the sandbox runs it; raises :class:`InvalidDefinitionError`.

    The sandbox's compatibility layer first turns an integer ``ToleratedFailurePercentage`` into the
    float moto's grammar wants (a gap of moto, not of the definition: AWS's schema wants an integer).
    """
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser, ASLParserException

    from fanout_tools.sandbox.compat import integer_percentages_as_floats

    hint = (
        "moto 5.2.5's ASL grammar is older than AWS's: it rejects ItemBatcher and ItemReader InputType "
        "JSONL (InputType JSON and CSV, ResultWriter, Label and MaxConcurrency parse); use only what both "
        "accept, or fill the gap in fanout_tools/sandbox/compat.py (README: The local sandbox account)"
    )
    # The parser logs a notice that it does not enforce ToleratedFailurePercentage; keep output clean.
    quiet = logging.getLogger("moto.stepfunctions.parser.asl.parse.preprocessor")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            AmazonStateLanguageParser.parse(integer_percentages_as_floats(text))
    except ASLParserException as err:
        raise InvalidDefinitionError(
            f"moto's ASL parser rejects the definition: {'; '.join(err.errors)}", hint
        ) from None
    except Exception as err:  # the preprocessor raises plain errors, e.g. for an unknown InputType
        raise InvalidDefinitionError(
            f"moto's ASL parser rejects the definition: {type(err).__name__}: {err}", hint
        ) from None
    finally:
        quiet.setLevel(level)


def language_service_dir() -> Path:
    """``scripts/asl-validator``: package.json, package-lock.json and validate.mjs (node_modules ignored)."""
    return repo_root() / "scripts" / "asl-validator"


def language_service(definitions: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """AWS's ASL language service's diagnostics for each definition text: ``{name: [diagnostic]}``.

    One ``node`` process validates every definition given (``scripts/asl-validator/validate.mjs``); a
    diagnostic has ``severity``, ``message``, ``line``, ``character`` (1-based) and ``text`` (what it
    points at). The service is the schema and graph validator behind AWS's Step Functions editor
    tooling (https://docs.aws.amazon.com/toolkit-for-vscode/latest/userguide/bulding-stepfunctions.html).
    Raises :class:`ToolMissingError` when Node.js or the pinned npm packages are not installed.
    """
    folder = language_service_dir()
    node = shutil.which("node")
    if node is None:
        raise ToolMissingError(
            "node not found on PATH: AWS's ASL language service runs on Node.js",
            "install Node.js >= 18 (https://nodejs.org/en/download), then run `make setup`",
        )
    if not (folder / "node_modules" / "amazon-states-language-service").is_dir():
        raise ToolMissingError(
            f"the ASL language service is not installed in {folder}",
            f"run `make setup` (or `npm ci --prefix {folder}`)",
        )
    request = json.dumps(definitions)
    with _SERVER_LOCK:
        found = _ask_server(node, folder, request)
    if found is None:  # the long-lived process failed: run once more on its own to report why
        result = subprocess.run(
            [node, str(folder / "validate.mjs")], input=request, text=True, capture_output=True, cwd=folder
        )
        try:
            found = json.loads(result.stdout) if result.returncode == 0 else None
        except json.JSONDecodeError:
            found = None
        if not isinstance(found, dict) or set(found) != set(definitions):
            raise FanoutError(
                f"the ASL language service failed (exit {result.returncode}): "
                f"{(result.stderr or result.stdout).strip()[-2000:]}",
                f"run `npm ci --prefix {folder}` and try again",
            )
    return found


# One long-lived `validate.mjs --serve` per process and folder: Node.js and the service load once
# (about 0.4 s), then each request takes milliseconds.
_SERVER_LOCK = threading.Lock()
_SERVERS: dict[tuple[str, Path], subprocess.Popen[str]] = {}


def _ask_server(node: str, folder: Path, request: str) -> dict[str, Any] | None:
    key = (node, folder)
    server = _SERVERS.get(key)
    if server is None or server.poll() is not None:
        server = subprocess.Popen(
            [node, str(folder / "validate.mjs"), "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=folder,
        )
        _SERVERS[key] = server
    assert server.stdin is not None and server.stdout is not None
    try:
        server.stdin.write(request + "\n")  # json.dumps never writes a raw newline: one line
        server.stdin.flush()
        answer = json.loads(server.stdout.readline())
    except (OSError, ValueError):
        answer = None
    if not isinstance(answer, dict) or "error" in answer or set(answer) != set(json.loads(request)):
        _stop(key)
        return None
    return answer


def _stop(key: tuple[str, Path]) -> None:
    server = _SERVERS.pop(key, None)
    if server is not None and server.poll() is None:
        server.stdin.close()  # type: ignore[union-attr]
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()


@atexit.register
def _stop_all() -> None:
    for key in list(_SERVERS):
        _stop(key)


def describe_diagnostics(name: str, diagnostics: list[dict[str, Any]]) -> str:
    """One line per diagnostic: ``name:line:character: message (at `text`)``."""
    return "; ".join(
        f"{name}:{d['line']}:{d['character']}: {d['message']} (at `{d['text']}`)" for d in diagnostics
    )


def check_arn_provenance(template_text: str, concrete: dict[str, Any], sentinels: dict[str, str]) -> None:
    """Every ARN comes from placeholders: see the module doc. ``concrete`` was rendered with ``sentinels``."""
    for match in re.finditer(r"arn:(?!\$\{partition\})", template_text):
        snippet = template_text[match.start() : match.start() + 60]
        raise InvalidDefinitionError(
            f"hard-coded ARN partition at offset {match.start()}: {snippet!r}",
            "build ARNs as arn:${partition}:... or pass the whole ARN as a template variable",
        )
    strings = list(_strings(concrete))
    for value in strings:
        for arn in re.findall(r"arn:[^\s\"']*", value):
            parts = arn.split(":")
            if len(parts) < 5:
                raise InvalidDefinitionError(f"malformed ARN {arn!r}")
            partition, region, account = parts[1], parts[3], parts[4]
            if partition != sentinels["partition"]:
                raise InvalidDefinitionError(
                    f"ARN {arn!r} has a partition that did not come from ${{partition}}"
                )
            if region not in ("", sentinels["region"]):
                raise InvalidDefinitionError(f"ARN {arn!r} has a region that did not come from ${{region}}")
            if account not in ("", sentinels["account_id"]):
                raise InvalidDefinitionError(
                    f"ARN {arn!r} has an account that did not come from ${{account_id}}"
                )
        for account in re.findall(r"(?<!\d)\d{12}(?!\d)", value):
            if account != sentinels["account_id"]:
                raise InvalidDefinitionError(f"hard-coded account ID {account} in {value!r}")
        for region in re.findall(r"\b(?:us|eu|ap|sa|ca|me|af|il|mx|cn)-(?:gov-)?[a-z]+-\d\b", value):
            if region != sentinels["region"]:
                raise InvalidDefinitionError(f"hard-coded region {region} in {value!r}")


def validate(template_text: str, concrete_text: str, sentinels: dict[str, str]) -> dict[str, Any]:
    """Run all four checks on one rendered variant; returns the parsed concrete definition."""
    return validate_many({"definition": (template_text, concrete_text)}, sentinels)["definition"]


def validate_many(
    variants: dict[str, tuple[str, str]], sentinels: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """:func:`validate` for ``{name: (template_text, concrete_text)}``, with one language-service run.

    Raises :class:`InvalidDefinitionError` with every problem of the first variant that has any.
    """
    found = problems(variants, sentinels)
    for messages in found.values():
        if messages:
            raise InvalidDefinitionError(
                "; ".join(messages),
                "fix the template under templates/asl/ (or the value) so every validator accepts it",
            )
    return {name: json.loads(concrete) for name, (_, concrete) in variants.items()}


def problems(variants: dict[str, tuple[str, str]], sentinels: dict[str, str]) -> dict[str, list[str]]:
    """Every problem the four checks find in each ``{name: (template_text, concrete_text)}`` ([] = valid)."""
    found: dict[str, list[str]] = {name: [] for name in variants}
    definitions: dict[str, Any] = {}
    for name, (_, concrete_text) in variants.items():
        try:
            definitions[name] = json.loads(concrete_text)
        except json.JSONDecodeError as err:
            found[name].append(f"{name}: rendered definition is not JSON: {err}")
    service = language_service({name: concrete for name, (_, concrete) in variants.items()})
    for name, (template_text, concrete_text) in variants.items():
        if service[name]:
            found[name].append("AWS's ASL language service: " + describe_diagnostics(name, service[name]))
        if name not in definitions:
            continue
        statelint = lint(definitions[name])
        if statelint:
            found[name].append(f"statelint: {name}: " + "; ".join(statelint))
        try:
            moto_parse(concrete_text)
        except InvalidDefinitionError as err:
            found[name].append(f"{name}: {err.message}")
        try:
            check_arn_provenance(template_text, definitions[name], sentinels)
        except InvalidDefinitionError as err:
            found[name].append(f"{name}: {err.message}")
    return found


def _strings(node: Any):  # type: ignore[no-untyped-def]
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
