"""A small REST client for Label Studio (httpx): projects, task import, the JSON export.

Authentication: a legacy API token is sent as ``Authorization: Token <key>``; a personal access
token (a JWT refresh token) is exchanged at ``/api/token/refresh/`` for a short-lived access token
sent as ``Bearer``. The token is never part of an error message.
"""

from __future__ import annotations

import os
from typing import Any

import httpx

from alflow.errors import AlflowError, ConfigError
from alflow.vendors.label_studio_config import config_choices

TIMEOUT = httpx.Timeout(60.0, connect=10.0)
PAGE = 1000


class LabelStudioClient:
    """One server, one token."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url,
            timeout=TIMEOUT,
            transport=httpx.HTTPTransport(retries=2),
            headers={"Authorization": self._auth_header(token)},
        )

    @classmethod
    def from_env(cls, url: str, token_env: str) -> LabelStudioClient:
        token = os.environ.get(token_env, "").strip()
        if not token:
            raise ConfigError(
                f"Label Studio: environment variable {token_env} (vendor.token_env) is not set; "
                "put the API token of the account alflow uses there"
            )
        return cls(url, token)

    def _auth_header(self, token: str) -> str:
        if token.count(".") != 2:  # a legacy token, not a JWT
            return f"Token {token}"
        with httpx.Client(base_url=self.url, timeout=TIMEOUT) as http:
            res = http.post("/api/token/refresh/", json={"refresh": token})
        if res.status_code != 200:
            raise AlflowError(
                f"Label Studio at {self.url}: the personal access token was refused "
                f"(HTTP {res.status_code} from /api/token/refresh/)"
            )
        return f"Bearer {res.json()['access']}"

    def __enter__(self) -> LabelStudioClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            res = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as err:
            raise AlflowError(
                f"Label Studio at {self.url}: {method} {path} failed: {err}"
            ) from None
        if res.status_code >= 400:
            raise AlflowError(
                f"Label Studio at {self.url}: {method} {path} answered HTTP {res.status_code}: "
                f"{res.text[:300]}"
            )
        return res

    def project_url(self, project_id: int) -> str:
        return f"{self.url}/projects/{project_id}/data"

    # --------------------------------------------------------------- projects
    def projects_titled(self, title: str) -> list[dict]:
        """Every project whose title is exactly ``title``."""
        found, page = [], 1
        while True:
            res = self._call(
                "GET", "/api/projects/", params={"title": title, "page": page, "page_size": 100}
            ).json()
            rows = res["results"] if isinstance(res, dict) else res
            found += [p for p in rows if p.get("title") == title]
            if not isinstance(res, dict) or not res.get("next"):
                return found
            page += 1

    def ensure_project(
        self,
        title: str,
        label_config: str,
        labels: list[str],
        *,
        create: bool = True,
        control: str = "label",
    ) -> int:
        """The id of the project with this title (created with ``label_config`` if missing).

        An existing project must offer exactly the schema's labels, or annotators could not
        pick some of them (or could pick others).
        """
        found = self.projects_titled(title)
        if len(found) > 1:
            ids = sorted(p["id"] for p in found)
            raise AlflowError(
                f"Label Studio at {self.url}: {len(found)} projects are titled {title!r} "
                f"(ids {ids}); rename all but one or set vendor.project_title"
            )
        if not found:
            if not create:
                raise AlflowError(
                    f"Label Studio at {self.url}: no project titled {title!r}; "
                    "run 'alflow round' to export a batch first"
                )
            body = {"title": title, "label_config": label_config}
            return int(self._call("POST", "/api/projects/", json=body).json()["id"])
        project = found[0]
        offered = config_choices(project.get("label_config") or "<View/>", control)
        if sorted(offered) != sorted(labels):
            raise AlflowError(
                f"Label Studio project {title!r} (id {project['id']}) offers the labels "
                f"(control {control!r}, vendor.label_field) "
                f"{sorted(offered)}, but the label schema is {sorted(labels)}"
            )
        return int(project["id"])

    # ------------------------------------------------------------------ tasks
    def item_ids(self, project_id: int) -> set[str]:
        """The ``data.item_id`` of every task already in the project."""
        ids: set[str] = set()
        page = 1
        while True:
            body = self._call(
                "GET",
                "/api/tasks/",
                params={"project": project_id, "page": page, "page_size": PAGE},
            ).json()
            tasks = body.get("tasks", [])
            ids |= {str(t["data"]["item_id"]) for t in tasks if "item_id" in t.get("data", {})}
            if not tasks or page * PAGE >= int(body.get("total", 0)):
                return ids
            page += 1

    def import_tasks(self, project_id: int, tasks: list[dict]) -> int:
        """Create the tasks (with their predictions); returns how many were created."""
        res = self._call("POST", f"/api/projects/{project_id}/import", json=tasks).json()
        return int(res.get("task_count", len(tasks)))

    # ----------------------------------------------------------------- export
    def export_json(self, project_id: int) -> bytes:
        """The full JSON export of every task (annotations with skips and ground truth)."""
        return self._call(
            "GET",
            f"/api/projects/{project_id}/export",
            params={"exportType": "JSON", "download_all_tasks": "true"},
        ).content
