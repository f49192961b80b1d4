"""A local HTTP server implementing just the Argilla 2.x endpoints alflow's client calls (the
real server needs Elasticsearch). It checks the API key and keeps records by ``external_id``."""

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

API_KEY = "argilla.apikey"
LABELS = ["cat", "dog"]


class FakeArgilla(BaseHTTPRequestHandler):
    """Just the documented endpoints the client calls, with an API key check."""

    store: ClassVar[dict] = {}
    labels: ClassVar[list] = LABELS

    def _send(self, code, payload):
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self):
        if self.headers.get("X-Argilla-Api-Key") != API_KEY:
            self._send(401, {"detail": "Could not validate credentials"})
            return False
        return True

    def do_GET(self):
        if not self._authorised():
            return
        url = urlsplit(self.path)
        if url.path == "/api/v1/me/datasets":
            return self._send(200, {"items": [{"id": "ds-1", "name": "digits"}]})
        if url.path == "/api/v1/datasets/ds-1/questions":
            options = [{"value": v, "text": v} for v in self.labels]
            q = {
                "id": "q-1",
                "name": "label",
                "settings": {"type": "label_selection", "options": options},
            }
            return self._send(200, {"items": [q]})
        if url.path == "/api/v1/datasets/ds-1/records":
            qs = parse_qs(url.query)
            assert qs["include"] == ["responses"]
            offset, limit = int(qs["offset"][0]), int(qs["limit"][0])
            items = list(self.store.values())
            return self._send(200, {"items": items[offset : offset + limit], "total": len(items)})
        self._send(404, {"detail": "not found"})

    def do_PUT(self):
        if not self._authorised():
            return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        for item in body["items"]:
            self.store[item["external_id"]] = {**item, "id": f"uuid-{item['external_id']}"}
        self._send(200, {"items": list(self.store.values()), "updated_item_ids": []})

    def log_message(self, *args):
        pass


@contextmanager
def serve():
    """Run the server on a free loopback port; yields its URL; stops it after."""
    FakeArgilla.store, FakeArgilla.labels = {}, LABELS
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeArgilla)  # a free port on loopback
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    server.server_close()
