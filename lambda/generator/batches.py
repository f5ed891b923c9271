"""Layout of array-mode batches: one JSONL object per batch plus its offset index.

``items/batch-NNNNNN.jsonl`` holds one item per line (line i = array index i). Beside it,
``items/batch-NNNNNN.jsonl.idx`` holds n+1 big-endian unsigned 64-bit offsets: entry i is the byte
offset where line i starts, entry n the size of the batch. Array child i reads 16 bytes of the index
at 8*i (where its line starts and ends) and then exactly its own line, with two ranged GETs
(https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, ``Range``), whatever i and
the sizes of the other items. ``lambda/job/fanout_item.py`` is the reader; it derives the index key
from the batch key the same way (``index_key``).

Why a separate index and not fixed-width records: items vary from a few bytes to 30 KiB, so padding
every line to the widest would multiply the batch size; the index costs 8 bytes per item (80 KB for
10,000 items) and one PutObject per batch.
"""

from __future__ import annotations

import sys
from array import array

INDEX_SUFFIX = ".idx"
CONTENT_TYPE = "application/octet-stream"


def index_key(key: str) -> str:
    return key + INDEX_SUFFIX


class OffsetIndex:
    """Offsets of the lines written so far; ``add`` each line's length in bytes, in order."""

    def __init__(self) -> None:
        self.offsets = array("Q", [0])

    def add(self, line_bytes: int) -> None:
        self.offsets.append(self.offsets[-1] + line_bytes)

    def to_bytes(self) -> bytes:
        out = array("Q", self.offsets)
        if sys.byteorder == "little":
            out.byteswap()
        return out.tobytes()


def encode(items: list[bytes]) -> tuple[bytes, bytes]:
    """A whole batch at once, ``items`` one per line: (the batch object, its offset index). The
    generator streams instead; this is for writing a small batch by hand (the bench, the tests)."""
    index = OffsetIndex()
    for item in items:
        index.add(len(item) + 1)
    return b"".join(item + b"\n" for item in items), index.to_bytes()
