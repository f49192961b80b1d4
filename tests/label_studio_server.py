"""A real Label Studio server for tests: its own venv (``infra/label-studio/install.sh``), SQLite
in a temporary folder, loopback only, telemetry off, three users with legacy API tokens."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from flows.local_services import free_port, wait_healthy

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venvs" / "label-studio"
USERS = {
    "admin": ("admin@alflow.test", "alflow-admin-token"),
    "alice": ("alice@alflow.test", "alflow-alice-token"),
    "bob": ("bob@alflow.test", "alflow-bob-token"),
}
OFFLINE_ENV = {
    "LABEL_STUDIO_COLLECT_ANALYTICS": "false",
    "LABEL_STUDIO_LATEST_VERSION_CHECK": "false",
    "SENTRY_DSN": "",
    "FRONTEND_SENTRY_DSN": "",
    "LABEL_STUDIO_CONVERTER_DOWNLOAD_RESOURCES": "false",
    "DJANGO_DB": "sqlite",
    "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
    "SECRET_KEY": "alflow-tests-only",
    "DO_NOT_TRACK": "true",
}


@dataclass
class LabelStudio:
    url: str
    tokens: dict[str, str]  # user name -> API token
    user_ids: dict[str, int]
    start_seconds: float

    def as_user(self, name: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Token {self.tokens[name]}"},
            timeout=60,
        )


def _env(data_dir: Path) -> dict[str, str]:
    return {**os.environ, **OFFLINE_ENV, "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir)}


def _seed() -> Path:
    """A migrated data dir with the users, made once per installed version; sessions copy it."""
    (dist,) = VENV.glob("lib/python*/site-packages/label_studio-*.dist-info")
    version = dist.name.removesuffix(".dist-info").split("-")[1]
    seed = VENV / f"alflow-test-seed-{version}"
    if seed.is_dir():
        return seed
    tmp = seed.with_name(f"{seed.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    users = [f"{email}:{token}" for email, token in USERS.values()]
    script = ROOT / "infra" / "label-studio" / "seed.py"
    out = subprocess.run(
        [str(VENV / "bin" / "python"), str(script), str(tmp), *users],
        env=_env(tmp),
        capture_output=True,
        text=True,
        timeout=600,
    )
    if out.returncode != 0:
        raise RuntimeError(
            f"seeding Label Studio failed:\n{out.stdout[-3000:]}{out.stderr[-3000:]}"
        )
    try:
        tmp.rename(seed)
    except OSError:  # another test process seeded it first: theirs is as good
        if not seed.is_dir():
            raise
        shutil.rmtree(tmp, ignore_errors=True)
    return seed


def start_label_studio(tmp: Path):
    """Start a server on a copy of the seed; yield it; stop it (by its pid)."""
    if not (VENV / "bin" / "label-studio").exists():
        pytest.skip(f"Label Studio is not installed at {VENV} (run infra/label-studio/install.sh)")
    data_dir = tmp / "label-studio-data"
    shutil.copytree(_seed(), data_dir)
    port = free_port()
    log = open(tmp / "label-studio.log", "w")  # noqa: SIM115  (closed after the server stops)
    started = time.monotonic()
    proc = subprocess.Popen(
        [
            str(VENV / "bin" / "label-studio"),
            "start",
            "--no-browser",
            "--internal-host",
            "127.0.0.1",
            "-p",
            str(port),
            "--data-dir",
            str(data_dir),
        ],
        env=_env(data_dir),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        # /health/ on the chosen port: Label Studio moves to another port when the chosen one is
        # busy, and then this fails rather than talk to something else
        wait_healthy("Label Studio", f"{url}/health/", proc, tmp / "label-studio.log")
        server = LabelStudio(
            url,
            {name: token for name, (_, token) in USERS.items()},
            {},
            time.monotonic() - started,
        )
        for name in USERS:
            with server.as_user(name) as http:
                server.user_ids[name] = http.get("/api/current-user/whoami").json()["id"]
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
