"""A round's HTML report: one self-contained file (figures embedded as base64 PNG)."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

SECTIONS = (
    "Learning curve",
    "Score distributions",
    "Class balance",
    "Annotator agreement",
    "Control slice",
)


def agreement_table(events: pd.DataFrame) -> tuple[dict, pd.DataFrame] | None:
    """Agreement among annotators over items labeled by two or more of them: the share of such
    items that are unanimous, the mean pairwise agreement, and per annotator how often they
    agree with the item's majority. None when no item has two annotators. ``events`` are the
    ledger's annotations (``status`` under the vote rules): only label votes that count are
    compared, the newest round's when an annotator labeled an item in several."""
    events = events[(events["kind"] == "label") & (events["status"] == "counts")]
    events = events.dropna(subset=["annotator"]).drop_duplicates(
        ["item_id", "annotator"], keep="last"
    )
    multi = events.groupby("item_id")["annotator"].transform("nunique") >= 2
    events = events[multi]
    if events.empty:
        return None
    pairs = agree = unanimous = 0
    majority = {}
    for item_id, group in events.groupby("item_id"):
        counts = group["label"].value_counts()
        majority[item_id] = counts.index[0]
        unanimous += len(counts) == 1
        k = len(group)
        pairs += k * (k - 1) // 2
        agree += int((counts * (counts - 1) // 2).sum())
    n_items = events["item_id"].nunique()
    summary = {
        "items with 2+ annotators": n_items,
        "unanimous share": unanimous / n_items,
        "mean pairwise agreement": agree / pairs if pairs else float("nan"),
    }
    events = events.assign(with_majority=events["label"].eq(events["item_id"].map(majority)))
    per = (
        events.groupby("annotator")
        .agg(labels=("label", "size"), agree_with_majority=("with_majority", "mean"))
        .reset_index()
    )
    return summary, per


def _img(path: Path | None) -> str:
    if path is None or not path.exists():
        return "<p>(no figure)</p>"
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0)


def _section(title: str, body: str) -> str:
    anchor = title.lower().replace(" ", "-")
    return f'<section id="{anchor}"><h2>{html.escape(title)}</h2>\n{body}\n</section>'


def round_report(
    *,
    project: str,
    round_id: int,
    curve_png: Path,
    curve: pd.DataFrame,
    scores_png: Path | None,
    balance_png: Path,
    balance: pd.DataFrame,
    agreement: tuple[dict, pd.DataFrame] | None,
    control: dict[str, float],
) -> str:
    """The report's HTML: a section per entry of ``SECTIONS``, in that order."""
    if agreement is None:
        agree = "<p>Every item has one annotator so far: no agreement to measure.</p>"
    else:
        summary, per = agreement
        agree = _table(pd.DataFrame([summary])) + _table(per)
    ctrl = (
        _table(pd.DataFrame([control]))
        if control
        else "<p>No control estimate this round (no control slice, or too few control "
        "labels to fit a model on two classes).</p>"
    )
    body = [
        _section(SECTIONS[0], _img(curve_png) + _table(curve)),
        _section(SECTIONS[1], _img(scores_png)),
        _section(SECTIONS[2], _img(balance_png) + _table(balance)),
        _section(SECTIONS[3], agree),
        _section(SECTIONS[4], ctrl),
    ]
    title = f"{html.escape(project)}: round {round_id}"
    style = "body{font-family:sans-serif;max-width:1000px;margin:auto}td,th{padding:2px 8px}"
    return (
        f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>{style}</style></head><body><h1>{title}</h1>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
