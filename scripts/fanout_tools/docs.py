"""``fanout docs``: the README's variable and output tables, generated from the ``.tf`` files.

The README holds one generated block per Terraform module, between markers::

    <!-- BEGIN_TF_DOCS root -->            terraform/*.tf: inputs table + outputs table
    <!-- END_TF_DOCS root -->
    <!-- BEGIN_TF_DOCS modules/batch -->   terraform/modules/batch/*.tf: one short inputs table
    <!-- END_TF_DOCS modules/batch -->

* ``fanout docs`` rewrites every block from the ``variable`` and ``output`` blocks (parsed with
  python-hcl2); a module without a block gets one after the last module block.
* ``fanout docs --check`` exits 1 naming each stale or missing block, and changes nothing.

Types and defaults print as Terraform writes them: python-hcl2 returns expressions wrapped in
``${...}`` (nested types as Python reprs inside), so they are unwrapped and re-joined here.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fanout_tools.errors import ConfigError
from fanout_tools.paths import repo_root, terraform_dir

ROOT = "root"
MARKER = re.compile(
    r"<!-- BEGIN_TF_DOCS (?P<name>\S+) -->\n(?P<body>.*?)<!-- END_TF_DOCS (?P=name) -->", re.S
)
FIX = "run `make fmt` (or `.venv/bin/fanout docs`) and commit README.md"


@dataclass(frozen=True)
class Variable:
    name: str
    description: str
    type: str
    default: str | None  # Terraform text of the default; None = no default (required)

    @property
    def required(self) -> bool:
        return self.default is None


@dataclass(frozen=True)
class Output:
    name: str
    description: str


@dataclass(frozen=True)
class ModuleDoc:
    variables: list[Variable]
    outputs: list[Output]


# --- reading the .tf files ------------------------------------------------------------------------


def module_dirs(tf_root: Path | None = None) -> dict[str, Path]:
    """Block name -> module folder: ``root`` and ``modules/<name>`` for each folder with .tf files."""
    tf_root = tf_root or terraform_dir()
    dirs = {ROOT: tf_root}
    for path in sorted((tf_root / "modules").glob("*")):
        if path.is_dir() and any(path.glob("*.tf")):
            dirs[f"modules/{path.name}"] = path
    return dirs


def read_module(path: Path) -> ModuleDoc:
    """Variables and outputs of one module, in file order (files sorted by name)."""
    import hcl2

    variables: list[Variable] = []
    outputs: list[Output] = []
    for tf_file in sorted(path.glob("*.tf")):
        if tf_file.name == "override.tf" or tf_file.name.endswith("_override.tf"):
            continue  # Terraform override files (backend_override.tf is written while an aws command runs)
        try:
            parsed = hcl2.loads(tf_file.read_text())
        except Exception as err:  # lark raises several unrelated types
            raise ConfigError(
                f"cannot parse {tf_file}: {err}", "run `make validate` to see Terraform's error"
            ) from None
        for block in parsed.get("variable", []):
            for name, body in block.items():
                default = terraform_value(_first(body["default"])) if "default" in body else None
                variables.append(
                    Variable(
                        name=name,
                        description=_unescape(_first(body.get("description", [""])) or ""),
                        type=terraform_type(_first(body["type"])) if "type" in body else "any",
                        default=default,
                    )
                )
        for block in parsed.get("output", []):
            for name, body in block.items():
                outputs.append(Output(name, _unescape(_first(body.get("description", [""])) or "")))
    return ModuleDoc(variables, outputs)


def _first(value: Any) -> Any:
    """python-hcl2 0.4 wraps every attribute value in a one-element list."""
    return value[0] if isinstance(value, list) and len(value) == 1 else value


_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}


def _unescape(text: str) -> str:
    """An HCL quoted string's value: python-hcl2 0.4 keeps the escapes (``\\"``) as written."""

    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        if code[0] in "uU":
            return chr(int(code[1:], 16))
        return _ESCAPES.get(code, match.group(0))

    text = re.sub(r"\\(u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)", one, text)
    return text.replace("$${", "${").replace("%%{", "%{")


def terraform_type(value: Any) -> str:
    """A type constraint as Terraform writes it: ``${list(string)}`` -> ``list(string)``,
    ``${object({'a': '${optional(number,8)}'})}`` -> ``object({ a = optional(number, 8) })``."""
    return terraform_value(value)


def terraform_value(value: Any) -> str:
    """A parsed HCL value (or ``${...}`` expression) as Terraform source text, on one line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        items = [(k, v) for k, v in value.items() if not k.startswith("__")]
        if not items:
            return "{}"
        return "{ " + ", ".join(f"{_key(k)} = {terraform_value(v)}" for k, v in items) + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(terraform_value(v) for v in value) + "]"
    text = str(value)
    if text.startswith("${") and text.endswith("}"):
        return _expression(text[2:-1])
    return json.dumps(_unescape(text), ensure_ascii=False)


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z_][\w-]*", key) else json.dumps(key)


def _expression(text: str) -> str:
    """An unwrapped expression: function arguments get ``, ``; embedded Python reprs of objects and
    tuples (how python-hcl2 stringifies nested constructors) become HCL again."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == '"':  # a Terraform string literal: copy it whole
            end = _string_end(text, i)
            out.append(text[i:end])
            i = end
        elif char in "{[":
            end = _bracket_end(text, i)
            segment = text[i:end]
            try:
                out.append(terraform_value(ast.literal_eval(segment)))
            except (ValueError, SyntaxError):
                out.append(segment)
            i = end
        elif char == ",":
            out.append(", ")
            i += 1
            while i < len(text) and text[i] == " ":
                i += 1
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _string_end(text: str, start: int) -> int:
    quote, i = text[start], start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            return i + 1
        i += 1
    return len(text)


def _bracket_end(text: str, start: int) -> int:
    depth, i = 0, start
    while i < len(text):
        char = text[i]
        if char in "'\"":
            i = _string_end(text, i)
            continue
        if char in "{[(":
            depth += 1
        elif char in "}])":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return len(text)


# --- rendering the tables -------------------------------------------------------------------------


def _cell(text: str) -> str:
    """Prose for a table cell: one line, pipes escaped, and ``<...>`` shown instead of read as HTML."""
    text = " ".join(text.split()).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|")


def _code(text: str) -> str:
    """A code span for a table cell (only pipes need escaping inside one)."""
    return "`" + " ".join(text.split()).replace("|", "\\|") + "`" if text else ""


def render_block(name: str, doc: ModuleDoc) -> str:
    """The Markdown between the markers of block ``name`` (ends with a newline)."""
    if name == ROOT:
        lines = [
            "| Name | Description | Type | Default | Required |",
            "|---|---|---|---|---|",
            *(
                f"| `{v.name}` | {_cell(v.description)} | {_code(v.type)} | "
                f"{'' if v.required else _code(v.default or '')} | {'yes' if v.required else 'no'} |"
                for v in doc.variables
            ),
            "",
            "| Output | Description |",
            "|---|---|",
            *(f"| `{o.name}` | {_cell(o.description)} |" for o in doc.outputs),
        ]
    else:
        lines = [
            f"#### `terraform/{name}`",
            "",
            "| Input | Type | Default | Description |",
            "|---|---|---|---|",
            *(
                f"| `{v.name}` | {_code(v.type)} | {'required' if v.required else _code(v.default or '')} "
                f"| {_cell(v.description)} |"
                for v in doc.variables
            ),
            "",
            "Outputs: " + ", ".join(f"`{o.name}`" for o in doc.outputs) + "."
            if doc.outputs
            else "No outputs.",
        ]
    return "\n".join(lines) + "\n"


def _wrap(name: str, body: str) -> str:
    return f"<!-- BEGIN_TF_DOCS {name} -->\n{body}<!-- END_TF_DOCS {name} -->"


def update(readme: str, tf_root: Path | None = None) -> tuple[str, list[str]]:
    """The README with every block regenerated, and the names of the blocks that changed or were added.

    Raises :class:`ConfigError` for a block that names no module, or a README without a root block."""
    dirs = module_dirs(tf_root)
    present = [m.group("name") for m in MARKER.finditer(readme)]
    unknown = [name for name in present if name not in dirs]
    if unknown:
        raise ConfigError(
            f"README.md has a TF_DOCS block for {', '.join(unknown)}, which is not a module under terraform/",
            "delete that block (BEGIN_TF_DOCS ... END_TF_DOCS) and run `fanout docs`",
        )
    if ROOT not in present:
        raise ConfigError(
            "README.md has no `<!-- BEGIN_TF_DOCS root -->` block",
            "add the BEGIN/END_TF_DOCS root markers where the variable table belongs, then run `fanout docs`",
        )
    fresh = {name: render_block(name, read_module(path)) for name, path in dirs.items()}
    changed: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match.group("name")
        if match.group("body") != fresh[name]:
            changed.append(name)
        return _wrap(name, fresh[name])

    text = MARKER.sub(replace, readme)
    missing = [name for name in dirs if name not in present]
    if missing:
        last = list(MARKER.finditer(text))[-1]
        added = "".join("\n\n" + _wrap(name, fresh[name]) for name in missing)
        text = text[: last.end()] + added + text[last.end() :]
        changed.extend(missing)
    return text, changed


# --- the verb -------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--check", action="store_true", help="exit 1 if a generated block is stale")
    parser.add_argument("--readme", type=Path, help="the Markdown file to update (default: README.md)")


def run(args: argparse.Namespace) -> int:
    readme_path: Path = args.readme or repo_root() / "README.md"
    try:
        readme = readme_path.read_text()
    except OSError as err:
        raise ConfigError(f"cannot read {readme_path}: {err.strerror}", "pass --readme FILE") from None
    text, changed = update(readme)
    if args.check:
        if changed:
            for name in changed:
                source = "terraform/*.tf" if name == ROOT else f"terraform/{name}/*.tf"
                print(f"stale: {readme_path} block `{name}` (generated from {source})", file=sys.stderr)
            print(f"  what to do: {FIX}", file=sys.stderr)
            return 1
        print(f"up to date: {len(module_dirs())} TF_DOCS blocks in {readme_path}")
        return 0
    if changed:
        tmp = readme_path.with_name(f".{readme_path.name}.tmp")
        tmp.write_text(text)
        tmp.replace(readme_path)
    print(f"wrote {readme_path}: {len(changed)} of {len(module_dirs())} TF_DOCS blocks changed")
    return 0
