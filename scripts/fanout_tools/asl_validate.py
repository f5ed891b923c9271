"""Validate a rendered state-machine definition before Terraform sees it.

Three independent checks, all run by ``fanout render`` on every variant it writes:

1. :func:`lint` — statelint (PyPI, 3.1.0), the AWS-published ASL linter. It predates some current
   Distributed Map fields, so three of its messages are known false positives and are ignored
   *by exact pattern* (anything else fails): ``Label`` (a documented Distributed Map field),
   ``ReaderConfig.InputType`` (documented ItemReader field) and ``ToleratedFailurePercentage`` as a
   float (AWS documents a number 0-100; moto's parser *requires* a float, ``5`` is a parse error).
2. :func:`moto_parse` — the ASL parser moto's interpreter runs (``AmazonStateLanguageParser.parse``,
   the entry point used by ``moto.stepfunctions.parser`` when creating/executing a state machine).
3. :func:`check_arn_provenance` — every ARN is built from a Terraform placeholder: in the template each
   ``arn:`` is followed by ``${partition}`` (or the whole value is one placeholder), and in a concrete
   render made with sentinel values no other partition, region or account ID appears.

:func:`templatefile` substitutes values the way Terraform's ``templatefile()`` does for the only two
interpolation forms the templates use: ``${name}`` and ``${format("%.2f", name)}``.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
from typing import Any

from fanout_tools.errors import ConfigError

STATELINT_FALSE_POSITIVES = (
    re.compile(r"\.ToleratedFailurePercentage is [0-9.]+ but should be an Integer$"),
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
    """Parse with moto's ASL parser; raises :class:`InvalidDefinitionError` on a syntax error."""
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser, ASLParserException

    # The parser logs a notice that it does not enforce ToleratedFailurePercentage; keep output clean.
    quiet = logging.getLogger("moto.stepfunctions.parser.asl.parse.preprocessor")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            AmazonStateLanguageParser.parse(text)
    except ASLParserException as err:
        raise InvalidDefinitionError(
            f"moto's ASL parser rejects the definition: {'; '.join(err.errors)}",
            "moto's ASL grammar is older than AWS's: it rejects ItemBatcher, ItemReader InputType JSONL "
            "and an integer ToleratedFailurePercentage (5.0 parses; InputType JSON and CSV, ResultWriter, "
            "Label and MaxConcurrency parse)",
        ) from None
    except Exception as err:  # the preprocessor raises plain errors, e.g. for an unknown InputType
        raise InvalidDefinitionError(
            f"moto's ASL parser rejects the definition: {type(err).__name__}: {err}",
            "moto's ASL grammar is older than AWS's: it rejects ItemBatcher, ItemReader InputType JSONL "
            "and an integer ToleratedFailurePercentage (5.0 parses; InputType JSON and CSV, ResultWriter, "
            "Label and MaxConcurrency parse)",
        ) from None
    finally:
        quiet.setLevel(level)


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
    """Run all three checks on one rendered variant; returns the parsed concrete definition."""
    try:
        definition = json.loads(concrete_text)
    except json.JSONDecodeError as err:
        raise InvalidDefinitionError(f"rendered definition is not JSON: {err}", "fix the template") from None
    problems = lint(definition)
    if problems:
        raise InvalidDefinitionError("statelint: " + "; ".join(problems), "fix the template")
    moto_parse(concrete_text)
    check_arn_provenance(template_text, definition, sentinels)
    return definition


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
