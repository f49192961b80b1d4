"""A small client for the Argilla 2.x REST API (the endpoints the Python SDK calls).

* ``GET  /api/v1/me/datasets``: find the dataset by name (created beforehand in Argilla with a
  ``text`` field and a label question whose options are the label schema);
* ``GET  /api/v1/datasets/{id}/questions``: the question's id and options;
* ``PUT  /api/v1/datasets/{id}/records/bulk``: upsert records by ``external_id`` (= item id);
* ``GET  /api/v1/datasets/{id}/records?include=responses``: records with responses, paged.

The API key goes in the ``X-Argilla-Api-Key`` header. It is read from the environment variable
named in ``vendor.token_env`` and never logged, printed or written to a file or an error.

Not verified against a real Argilla server (it needs Elasticsearch or OpenSearch); the tests run
it against a local HTTP server implementing the four endpoints above.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import httpx

from alflow.config import redact_url
from alflow.errors import AlflowError, ConfigError
from alflow.vendors.base import atomic_write

BULK = 500  # the SDK's MAX_RECORDS_PER_UPSERT_BULK
PAGE = 100


class ArgillaClient:
    """Push records to and pull responses from one Argilla dataset."""

    def __init__(
        self, url: str, token_env: str, dataset: str, *, transport=None, timeout: float = 30.0
    ) -> None:
        token = os.environ.get(token_env)
        if not token:
            raise ConfigError(
                f"vendor.token_env: environment variable {token_env} (the Argilla API key) "
                "is not set"
            )
        self.url = redact_url(url.rstrip("/"))  # as shown in messages and manifests
        self.dataset = dataset
        self._http = httpx.Client(
            base_url=url.rstrip("/"),
            headers={"X-Argilla-Api-Key": token},
            timeout=timeout,
            transport=transport,
        )

    def describe(self) -> str:
        return f"{self.url} dataset {self.dataset!r}"

    def _call(self, method: str, path: str, **kwargs) -> dict:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as err:
            raise AlflowError(f"Argilla at {self.url}: {method} {path} failed: {err}") from None
        if response.status_code >= 400:
            raise AlflowError(
                f"Argilla at {self.url}: {method} {path} answered {response.status_code}: "
                f"{response.text[:300]}"
            )
        try:
            return response.json()
        except ValueError:
            raise AlflowError(f"Argilla at {self.url}: {method} {path}: not JSON") from None

    def dataset_id(self) -> str:
        items = self._call("GET", "/api/v1/me/datasets").get("items", [])
        for d in items:
            if isinstance(d, dict) and d.get("name") == self.dataset:
                return str(d["id"])
        raise AlflowError(
            f"Argilla at {self.url}: no dataset named {self.dataset!r}; create it with a 'text' "
            "field and a label question whose options are the label schema"
        )

    def question_id(self, dataset_id: str, question: str, labels: list[str]) -> str:
        items = self._call("GET", f"/api/v1/datasets/{dataset_id}/questions").get("items", [])
        for q in items:
            if isinstance(q, dict) and q.get("name") == question:
                options = (q.get("settings") or {}).get("options") or []
                values = {o.get("value") for o in options if isinstance(o, dict)}
                if values and values != set(labels):
                    raise AlflowError(
                        f"Argilla dataset {self.dataset!r}: question {question!r} offers "
                        f"{sorted(values)}, not the label schema {labels}"
                    )
                return str(q["id"])
        raise AlflowError(f"Argilla dataset {self.dataset!r} has no question {question!r}")

    def push(self, records: list[dict], question: str, labels: list[str]) -> int:
        """Upsert the records (keyed by ``external_id`` = item id); returns how many were sent."""
        dataset_id = self.dataset_id()
        question_id = self.question_id(dataset_id, question, labels)
        items = [
            {
                "external_id": r["id"],
                "fields": r["fields"],
                "metadata": r["metadata"],
                "suggestions": [
                    {
                        "question_id": question_id,
                        "value": s["value"],
                        "score": s["score"],
                        "agent": s["agent"],
                        "type": "model",
                    }
                    for s in r["suggestions"]
                ],
            }
            for r in records
        ]
        for start in range(0, len(items), BULK):
            self._call(
                "PUT",
                f"/api/v1/datasets/{dataset_id}/records/bulk",
                json={"items": items[start : start + BULK]},
            )
        return len(items)

    def pull(self, dest: Path) -> Path:
        """Every record with its responses, as a JSONL file in ``dest`` (the server's JSON)."""
        dataset_id = self.dataset_id()
        records: list[dict] = []
        while True:
            page = self._call(
                "GET",
                f"/api/v1/datasets/{dataset_id}/records",
                params={"include": "responses", "offset": len(records), "limit": PAGE},
            )
            items = page.get("items", [])
            records.extend(items)
            if not items or len(records) >= page.get("total", 0):
                break
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", self.dataset)
        path = dest / f"argilla-{safe}-{stamp}.jsonl"
        lines = [json.dumps(r, sort_keys=True, allow_nan=False) for r in records]
        atomic_write(path, ("\n".join(lines) + "\n").encode() if lines else b"")
        return path
