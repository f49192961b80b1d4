"""A commented ``alflow.yaml`` written from what ``alflow.data.infer`` found in a data file.

The features section follows the columns: an embedding column if there is one, else the text
with most characters, else a table (``kind: tabular`` with its numeric and categorical columns,
or ``kind: numeric`` when every column is a gap-free number). Comments say what was inferred
and why; columns a config of that kind cannot read are listed as comments.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import yaml

from alflow.config import MISSING_MARKERS, config_from_dict
from alflow.data.infer import SAMPLE_ROWS, Column, Inference, infer, read_sample

COMMENT_AT = 34  # the column comments start at, as in the starter configs


def features_kind(inf: Inference) -> tuple[str, list[Column]]:
    """The ``data.features.kind`` for the inferred columns, and the columns it leaves out."""
    embeddings, texts = inf.of_kind("embedding"), inf.of_kind("text")
    if embeddings:
        return "embedding", [c for c in inf.columns if c is not embeddings[0]]
    if texts:
        main = max(texts, key=lambda c: c.mean_length)
        return "text", [c for c in inf.columns if c is not main]
    if inf.of_kind("categorical") or any(c.gaps for c in inf.columns):
        return "tabular", []
    return "numeric", []


def project_name(source: str) -> str:
    """A project name from the file's name (``adult.csv.gz`` -> ``adult``)."""
    stem = Path(source.rstrip("/")).name.split(".")[0]
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-.") or "alflow"


def render(inf: Inference, command: str) -> str:
    """The config's text; it is checked to load as a valid config before it is returned."""
    lines = [
        f"# alflow config written by `{command}`",
        f"# from the first {inf.rows:,} rows of {inf.source}: check what was inferred (the",
        "# comments say why) and edit anything. Every key is in docs/configuration.md.",
        f"project: {project_name(inf.source)}",
        _line("workspace: ./workspace", "relative to this file"),
        "seed: 0",
        "",
        _line("storage:", "null = inside the workspace; set URLs to use real services"),
        _line("  pool_url: null", "e.g. s3://bucket/alflow/pool"),
        _line("  ledger_url: null", "e.g. ${ALFLOW_LEDGER_URL} -> postgresql+psycopg://..."),
        _line("  mlflow_tracking_uri: null", "e.g. http://mlflow.internal:5000"),
        "  mlflow_artifact_location: null",
        "",
        "compute:",
        _line("  scheduler_address: null", "e.g. tcp://dask-scheduler:8786; null = LocalCluster"),
        "  n_workers: 2",
        "  threads_per_worker: 1",
        "",
        *_data_section(inf),
        "",
        "model:",
        "  estimator: logistic_regression",
        "  params: {max_iter: 2000}",
        "  gate: {metric: macro_f1, min_delta: 0.0}",
        "",
        "strategy:",
        _line("  name: margin_explore", "the measured default: docs/benchmarks.md"),
        _line("  cold_start: density_coreset", "until every class has this many labels:"),
        "  cold_start_until_per_class: 30",
        "",
        "vendor:",
        _line("  kind: file", "file | simulated | label-studio | ... (docs/vendors.md)"),
        _line("  format: jsonl", "jsonl | csv"),
        "",
        "campaign:",
        "  batch_size: 20",
        "  max_rounds: 10",
    ]
    text = "\n".join(lines) + "\n"
    config_from_dict(
        yaml.safe_load(text), source=f"the config inferred from {inf.source}", environ={}
    )
    return text


def _data_section(inf: Inference) -> list[str]:
    id_note = (
        f"{inf.rows:,} distinct ids in the sample"
        if inf.id_column
        else "null = a content hash of the features (or --id-column COL)"
    )
    labeled = inf.rows - inf.label_gaps
    truth_note = f"the label column: {labeled:,} of {inf.rows:,} sampled rows labeled" + (
        f", {inf.label_gaps:,} not (gaps)" if inf.label_gaps else ""
    )
    lines = [
        "data:",
        _line(f"  id_column: {_scalar(inf.id_column)}", id_note),
        _line(f"  truth_column: {_scalar(inf.label_column)}", truth_note),
        "  features:",
        *_features(inf),
        _line(
            "  labels:",
            f"{len(inf.labels)} labels seen in the sample; add any it missed",
        ),
    ]
    lines += [
        _line(f"    - {_scalar(lab)}", f"{inf.label_counts[lab]:,} rows") for lab in inf.labels
    ]
    return lines


def _features(inf: Inference) -> list[str]:
    kind, unused = features_kind(inf)
    pad = "    "
    if kind == "embedding":
        (col,) = [c for c in inf.columns if c not in unused]
        lines = [
            _line(f"{pad}kind: embedding", "numeric | text | embedding | tabular"),
            _line(f"{pad}embedding_column: {_scalar(col.name)}", col.why),
        ]
    elif kind == "text":
        (col,) = [c for c in inf.columns if c not in unused]
        lines = [
            _line(f"{pad}kind: text", "numeric | text | embedding | tabular"),
            _line(f"{pad}text_column: {_scalar(col.name)}", col.why),
        ]
    elif kind == "numeric":
        lines = [
            _line(f"{pad}kind: numeric", "every column a number without gaps in the sample"),
            _line(f"{pad}columns:", "gaps later in the file? use kind: tabular"),
            *[_line(f"{pad}  - {_scalar(c.name)}", c.why) for c in inf.columns],
        ]
    else:
        lines = _tabular(inf, pad)
    if unused:
        lines.append(f"{pad}# not read: a '{kind}' config reads one column; the others were")
        lines += [f"{pad}#   {c.name}: {c.why}" for c in unused]
    return lines


def _tabular(inf: Inference, pad: str) -> list[str]:
    numeric, categorical = inf.of_kind("numeric"), inf.of_kind("categorical")
    what = f"{len(numeric)} numeric + {len(categorical)} categorical columns"
    lines = [_line(f"{pad}kind: tabular", f"{what}; gaps are imputed")]
    for key, cols in (("numeric", numeric), ("categorical", categorical)):
        if cols:
            lines.append(f"{pad}{key}:")
            lines += [_line(f"{pad}  - {_scalar(c.name)}", c.why) for c in cols]
    markers = ", ".join(json.dumps(m) for m in MISSING_MARKERS)
    lines += [
        _line(f"{pad}impute_numeric: median", "median | mean | constant (0)"),
        _line(f"{pad}impute_categorical: constant", "a gap is a category of its own"),
        _line(f"{pad}max_categories: 50", "the rest of a column's categories share one"),
        _line(f"{pad}missing_values: [{markers}]", "cells that are gaps"),
    ]
    return lines


def _line(code: str, comment: str) -> str:
    """``code`` with ``# comment`` aligned at ``COMMENT_AT`` (or two spaces after it)."""
    return f"{code.ljust(COMMENT_AT - 2)}  # {comment}"


def _scalar(value: str | None) -> str:
    """``value`` as a YAML scalar: plain when YAML reads it back as the same string."""
    if value is None:
        return "null"
    if re.fullmatch(r"[A-Za-z_][\w.-]*", value) and yaml.safe_load(value) == value:
        return value
    return json.dumps(value, ensure_ascii=False)


def config_from_file(
    source: str,
    label_column: str,
    *,
    id_column: str | None = None,
    ignore: Sequence[str] = (),
    rows: int = SAMPLE_ROWS,
) -> tuple[str, Inference]:
    """The commented config for ``source`` (inferred from its first ``rows`` records)."""
    inf = infer(read_sample(source, rows), source, label_column, id_column, ignore)
    command = f"alflow init --from {source} --label-column {label_column}"
    command += f" --id-column {id_column}" if id_column else ""
    command += "".join(f" --ignore {c}" for c in ignore)
    return render(inf, command), inf


def summary(inf: Inference) -> str:
    """One line on what was inferred (what ``alflow init --from`` prints)."""
    kind, unused = features_kind(inf)
    counts = ", ".join(
        f"{len(cols)} {k}"
        for k in ("numeric", "categorical", "text", "embedding")
        if (cols := inf.of_kind(k))
    )
    left = f" ({len(unused)} not read by kind {kind}: see the comments)" if unused else ""
    return (
        f"{inf.rows:,} sampled rows: kind {kind} from {counts} column(s){left}; "
        f"{len(inf.labels)} labels from {inf.label_column!r}"
    )
