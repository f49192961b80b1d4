"""One CSV writer for every CSV alflow writes: formulas neutralized, read back unchanged; export
files readable as the umask allows."""

import os
import stat

import pandas as pd

from alflow.csvsafe import csv_bytes, read_csv, write_csv
from alflow.vendors.base import atomic_write


def test_formula_cells_are_quoted_and_read_back(tmp_path):
    frame = pd.DataFrame(
        {"item_id": ["=1+1", "@cmd", "-2", "plain"], "score": [-0.5, 1.0, 2.0, 3.0]}
    )
    text = csv_bytes(frame).decode()
    assert "'=1+1" in text and "'@cmd" in text and "'-2" in text
    assert "\n-0.5," not in text and ",-0.5\n" in text  # numbers stay numbers
    path = tmp_path / "x.csv"
    write_csv(frame, path)
    back = read_csv(path, dtype={"item_id": str})
    assert back["item_id"].tolist() == frame["item_id"].tolist()
    assert back["score"].tolist() == frame["score"].tolist()


def test_exports_are_readable_as_the_umask_allows(tmp_path):
    for mask, mode in ((0o027, 0o640), (0o022, 0o644), (0o077, 0o600)):
        old = os.umask(mask)
        try:
            atomic_write(tmp_path / f"{mask:o}.json", b"{}\n")
        finally:
            os.umask(old)
        assert stat.S_IMODE((tmp_path / f"{mask:o}.json").stat().st_mode) == mode
