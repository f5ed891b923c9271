"""The array child's reader as one ``python3 -c`` program, for a job definition on a stock image.

``fanout_item.py`` without docstrings and annotations, zlib-compressed and base64-encoded, wrapped in
``import binascii,zlib;exec(zlib.decompress(binascii.a2b_base64('...')))``: about 6.7 KB, so the whole
command stays below the 8,192 characters ECS allows for a task's overrides (where a job's
substituted command goes; https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RunTask.html),
and no image build is needed: any image with python3 >= 3.8 runs it, with ``-I -S`` (no site-packages,
no PYTHON* variables). Terraform holds the program as ``local.item_reader`` in ``terraform/main.tf``
(the Terraform tree is self-contained, so it is a literal there, not a file() outside it).

    python3 lambda/job/inline.py            # print the program
    python3 lambda/job/inline.py --write    # rewrite local.item_reader in terraform/main.tf
"""

from __future__ import annotations

import ast
import base64
import re
import sys
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
MAIN_TF = HERE.parents[1] / "terraform" / "main.tf"
PREFIX = "import binascii,zlib;exec(zlib.decompress(binascii.a2b_base64('"
SUFFIX = "')))"
LOCAL = re.compile(r'^(\s*item_reader\s*=\s*)"([^"]*)"', re.MULTILINE)


def minified(source: str | None = None) -> str:
    """The reader's code without docstrings and annotations (behaviour unchanged)."""
    tree = ast.parse(source if source is not None else (HERE / "fanout_item.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                node.body = body[1:] or [ast.Pass()]
        if isinstance(node, ast.FunctionDef):
            node.returns = None
            for arg in [*node.args.args, *node.args.kwonlyargs]:
                arg.annotation = None
    return ast.unparse(tree)


def program(source: str | None = None) -> str:
    packed = base64.b64encode(zlib.compress(minified(source).encode(), 9)).decode()
    return PREFIX + packed + SUFFIX


def unpack(text: str) -> str:
    """The code a program built by :func:`program` runs."""
    if not (text.startswith(PREFIX) and text.endswith(SUFFIX)):
        raise ValueError("not an inline reader program")
    return zlib.decompress(base64.b64decode(text[len(PREFIX) : -len(SUFFIX)])).decode()


def terraform_program(main_tf: Path = MAIN_TF) -> str:
    found = LOCAL.search(main_tf.read_text())
    if not found:
        raise ValueError(f"no item_reader local in {main_tf}")
    return found.group(2)


def main(argv: list[str]) -> int:
    text = program()
    if argv[1:] == ["--write"]:
        tf = MAIN_TF.read_text()
        if not LOCAL.search(tf):
            print(f"no item_reader local in {MAIN_TF}", file=sys.stderr)
            return 1
        MAIN_TF.write_text(LOCAL.sub(lambda m: f'{m.group(1)}"{text}"', tf, count=1))
        return 0
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
