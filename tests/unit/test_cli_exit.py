"""The console script's exit (flows.cli.run): it ends like the interpreter would, thread pools
included, instead of waiting forever on an idle pool worker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
from concurrent.futures import ThreadPoolExecutor
import flows.cli as cli
pool = ThreadPoolExecutor(2)
cli.app = lambda **_: pool.submit(print, "pool ran")
cli.run()
"""


def test_a_command_that_used_a_thread_pool_exits():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "pool ran"
