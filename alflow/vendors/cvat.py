"""CVAT: image-classification tasks out, CVAT-for-images 1.1 XML tags back.

Export (per round, in the exports folder):

* ``round-NNNN.cvat.zip``: one PNG per item, named ``rNNNN-RRRRR.png`` (round and rank), to upload
  as a CVAT task's data. Items that are not images are rendered: numeric features as a grey grid
  (one cell per feature, scaled per item), text as a card with the text, embeddings as a card
  with the item id. Item ids never become file names (they may hold any character).
* ``round-NNNN.cvat-mapping.json``: the sidecar, file name -> item id. Import looks names up
  in every round's sidecar, so an image name CVAT returns must be one we exported.
* ``round-NNNN.cvat-labels.json``: the label schema as CVAT's label constructor JSON (tags).
* ``round-NNNN.cvat.manifest.json``: rows, sha256 and the files above.

Import: ``annotations.xml`` (CVAT for images 1.1) bare or inside CVAT's export zip. Every
``<tag>`` of an ``<image>`` is a vote; tags from ``source="auto"`` or ``"file"`` (a model's or an
uploaded annotation) are not human labels and are ignored, other shapes are ignored. A tag's
identity is its image name and position, so a corrected tag in a later export replaces the
earlier version. Archives are checked member by member (names, symlinks, total size,
compression ratio) and the XML is parsed streaming, DTDs refused, under a byte cap.
"""

from __future__ import annotations

import io
import json
import struct
import textwrap
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path, PurePosixPath
from typing import IO

import numpy as np
import pandas as pd
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse
from matplotlib.figure import Figure

from alflow.config import AlflowConfig, ArchiveLimits, FeaturesConfig
from alflow.errors import InputError, located
from alflow.vendors.archive import CappedReader, open_member, unsafe_name
from alflow.vendors.base import Annotation, ExportReceipt, atomic_write

HUMAN_SOURCES = {None, "manual", "semi-auto", "consensus"}
META_COLUMNS = {"item_id", "rank", "utility", "predicted_label", "predicted_score"}
CELL_PX = 16
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def png_gray(pixels: np.ndarray) -> bytes:
    """An 8-bit greyscale PNG of a 2-D uint8 array (deterministic bytes, no extra library)."""
    h, w = pixels.shape
    raw = b"".join(b"\0" + pixels[r].astype(np.uint8).tobytes() for r in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def render_numeric(values: np.ndarray) -> bytes:
    """Feature values as a square grey grid, scaled to 0-255 per item."""
    v = np.asarray(values, dtype=float)
    v = np.nan_to_num(v, nan=0.0)
    lo, hi = v.min(), v.max()
    scaled = np.zeros_like(v) if hi == lo else (v - lo) / (hi - lo)
    side = int(np.ceil(np.sqrt(len(v))))
    grid = np.zeros(side * side)
    grid[: len(v)] = scaled
    img = (grid.reshape(side, side) * 255).round().astype(np.uint8)
    return png_gray(np.kron(img, np.ones((CELL_PX, CELL_PX), dtype=np.uint8)))


def render_text(text: str, width: int = 60, max_lines: int = 30) -> bytes:
    """A card with the text (wrapped, long texts cut) as a PNG."""
    lines = textwrap.wrap(text, width) or [""]
    if len(lines) > max_lines:
        lines = [*lines[: max_lines - 1], "[...]"]
    fig = Figure(figsize=(6.4, 0.3 + 0.22 * len(lines)), dpi=100)
    fig.text(0.02, 0.98, "\n".join(lines), va="top", ha="left", family="monospace", size=9)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


class CvatVendor:
    """Batches as CVAT image tasks; labels back from CVAT for images 1.1 XML."""

    pulls_labels = False  # labels come back as a file to import

    name = "cvat"

    def __init__(
        self,
        features: FeaturesConfig | None = None,
        mapping_dir: Path | None = None,
        limits: ArchiveLimits | None = None,
    ) -> None:
        self.features = features
        self.mapping_dir = mapping_dir
        self.limits = limits or ArchiveLimits()

    # ----------------------------------------------------------------- export
    def _image(self, row: dict) -> bytes:
        f = self.features
        if f is not None and f.kind == "numeric":
            return render_numeric(np.array([row[c] for c in f.columns], dtype=float))
        if "text" in row and row["text"] is not None:
            return render_text(str(row["text"]))
        return render_text(f"item {row['item_id']}")

    def export_batch(
        self, batch: pd.DataFrame, round_id: int, labels: list[str], dest: Path
    ) -> ExportReceipt:
        """Write the images zip, the mapping sidecar, CVAT's labels JSON and a manifest."""
        stem = f"round-{round_id:04d}"
        mapping: dict[str, str] = {}
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
            for row in batch.to_dict("records"):
                name = f"r{round_id:04d}-{int(row['rank']):05d}.png"
                mapping[name] = str(row["item_id"])
                info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
                info.external_attr = 0o644 << 16
                zf.writestr(info, self._image(row))
        zip_path = dest / f"{stem}.cvat.zip"
        sha = atomic_write(zip_path, buf.getvalue())
        map_path = dest / f"{stem}.cvat-mapping.json"
        atomic_write(
            map_path,
            _json({"round": round_id, "vendor": self.name, "images": mapping}),
        )
        labels_path = dest / f"{stem}.cvat-labels.json"
        atomic_write(
            labels_path, _json([{"name": lab, "type": "tag", "attributes": []} for lab in labels])
        )
        manifest = {
            "round": round_id,
            "vendor": self.name,
            "format": "cvat-images",
            "file": zip_path.name,
            "rows": len(mapping),
            "sha256": sha,
            "label_schema": labels,
            "mapping": map_path.name,
            "cvat_labels": labels_path.name,
            "import_format": "CVAT for images 1.1 (annotations.xml, bare or zipped)",
        }
        manifest_path = dest / f"{stem}.cvat.manifest.json"
        atomic_write(manifest_path, _json(manifest))
        return ExportReceipt(self.name, str(zip_path), len(mapping), sha, str(manifest_path))

    # ----------------------------------------------------------------- import
    def _mapping(self) -> dict[str, str]:
        if self.mapping_dir is None or not self.mapping_dir.is_dir():
            raise InputError(f"no CVAT mapping sidecars found (looked in {self.mapping_dir})")
        out: dict[str, str] = {}
        for p in sorted(self.mapping_dir.glob("round-*.cvat-mapping.json")):
            out.update(json.loads(p.read_text())["images"])
        return out

    def read_annotations(self, path: Path, labels: list[str]) -> list[Annotation]:
        """Tags of a CVAT-for-images 1.1 XML file or export zip, validated; all or nothing."""
        mapping = self._mapping()
        with ExitStack() as stack:
            if zipfile.is_zipfile(path):
                member, stream = stack.enter_context(
                    open_member(path, "annotations.xml", self.limits, self.limits.max_xml_bytes)
                )
                source = f"{path}!{member}"
            else:
                raw = stack.enter_context(open(path, "rb"))
                stream, source = CappedReader(raw, self.limits.max_xml_bytes, str(path)), str(path)
            out, problems = self._parse(stream, source, mapping, set(labels))
        if problems:
            raise InputError(
                f"{source}: {len(problems)} problem(s); nothing was imported", problems
            )
        if not out:
            raise InputError(f"{source}: no human tags found; nothing was imported")
        return out

    def _parse(self, stream: IO[bytes], source: str, mapping: dict[str, str], schema: set[str]):
        out: list[Annotation] = []
        problems: list[str] = []
        try:
            for n, image in enumerate(_images(stream, source), start=1):
                where = f"image #{n} (id {image.get('id')!r}, name {image.get('name')!r})"
                item_id = self._item_of(image.get("name") or "", mapping)
                if isinstance(item_id, Exception):
                    problems.append(located(source, None, "name", f"{where}: {item_id}"))
                    image.clear()
                    continue
                k = 0
                for tag in image.iter("tag"):
                    if tag.get("source") not in HUMAN_SOURCES:
                        continue
                    label = (tag.get("label") or "").strip()
                    if label not in schema:
                        problems.append(
                            located(
                                source,
                                None,
                                "label",
                                f"{where}: {label!r} for item_id {item_id!r} is not in the "
                                f"label schema {sorted(schema)}",
                            )
                        )
                    else:
                        annotation_id = f"{PurePosixPath(image.get('name')).name}#{k}"
                        out.append(Annotation(n, item_id, "label", label, None, annotation_id))
                    k += 1
                image.clear()
        except DefusedXmlException as err:
            raise InputError(f"{source}: refused: {type(err).__name__} ({err})") from None
        except SyntaxError as err:  # ElementTree.ParseError
            raise InputError(f"{source}: not well-formed XML: {err}") from None
        return out, problems

    @staticmethod
    def _item_of(name: str, mapping: dict[str, str]) -> str | Exception:
        why = unsafe_name(name)
        if why:
            return InputError(f"image name refused: {why}")
        if name in mapping:
            return mapping[name]
        base = PurePosixPath(name).name
        if base in mapping:
            return mapping[base]
        return InputError("not an image alflow exported (no mapping sidecar names it)")


def _images(stream: IO[bytes], source: str) -> Iterator:
    """``<image>`` elements of a CVAT for images 1.1 document, streamed; DTDs refused."""
    root = None
    for event, elem in iterparse(stream, events=("start", "end"), forbid_dtd=True):
        if root is None:
            root = elem
            if elem.tag != "annotations":
                raise InputError(f"{source}: root element is <{elem.tag}>, not <annotations>")
            continue
        version = (elem.text or "").strip() if elem.tag == "version" else "1."
        if event == "end" and not version.startswith("1."):
            raise InputError(f"{source}: CVAT format version {elem.text!r}, expected 1.1")
        if event == "end" and elem.tag == "image":
            yield elem
            root.clear()  # everything parsed so far is done with: memory stays flat


def _json(data: object) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode()


def build(config: AlflowConfig, exports_dir: Path | None = None) -> CvatVendor:
    """The vendor for ``config`` (the registry calls this; ``exports_dir``: the exports folder)."""
    return CvatVendor(config.data.features, exports_dir, config.vendor.limits)
