"""{{title}}: the HTTP API, on the Python standard library only.

Serves the API that openapi.json describes with http.server and keeps its data in SQLite,
created from schema.sql (the db_design step's DDL). Run it with `python3 backend/app.py`
(PORT sets the port, DATABASE the SQLite file; the default is an in-memory database).
"""

import json
import os
import re
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schema.sql")
MAX_BODY = 64 * 1024


class NotFound(Exception):
    """The addressed record does not exist."""


class Invalid(Exception):
    """The request body is not acceptable."""


class Store:
    """Every query of the API, on one SQLite connection guarded by a lock."""

    def __init__(self, path=":memory:"):
        self.db = sqlite3.connect(path, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA foreign_keys = ON")
        with open(SCHEMA, encoding="utf-8") as schema:
            self.db.executescript(schema.read())
        self.lock = threading.RLock()

    def lists(self):
        with self.lock:
            rows = self.db.execute("SELECT id, name, created_at FROM lists ORDER BY id").fetchall()
        return [dict(row) for row in rows]

    def get_list(self, list_id):
        with self.lock:
            row = self.db.execute("SELECT id, name, created_at FROM lists WHERE id = ?", (list_id,)).fetchone()
        if row is None:
            raise NotFound(f"list {list_id} does not exist")
        return dict(row)

    def create_list(self, name):
        with self.lock, self.db:
            cursor = self.db.execute("INSERT INTO lists (name) VALUES (?)", (name,))
            return self.get_list(cursor.lastrowid)

    def items(self, list_id):
        self.get_list(list_id)
        with self.lock:
            rows = self.db.execute(
                "SELECT id, list_id, title, done, created_at FROM items WHERE list_id = ? ORDER BY id", (list_id,)
            ).fetchall()
        return [item_view(row) for row in rows]

    def get_item(self, item_id):
        with self.lock:
            row = self.db.execute(
                "SELECT id, list_id, title, done, created_at FROM items WHERE id = ?", (item_id,)
            ).fetchone()
        if row is None:
            raise NotFound(f"item {item_id} does not exist")
        return item_view(row)

    def add_item(self, list_id, title):
        self.get_list(list_id)
        with self.lock, self.db:
            cursor = self.db.execute("INSERT INTO items (list_id, title) VALUES (?, ?)", (list_id, title))
            return self.get_item(cursor.lastrowid)

    def update_item(self, item_id, changes):
        item = self.get_item(item_id)
        title = changes.get("title", item["title"])
        done = changes.get("done", item["done"])
        with self.lock, self.db:
            self.db.execute("UPDATE items SET title = ?, done = ? WHERE id = ?", (title, int(done), item_id))
        return self.get_item(item_id)

    def delete_item(self, item_id):
        self.get_item(item_id)
        with self.lock, self.db:
            self.db.execute("DELETE FROM items WHERE id = ?", (item_id,))


def item_view(row):
    item = dict(row)
    item["done"] = bool(item["done"])
    return item


def text_field(body, name, required=True):
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise Invalid(f"`{name}` must be a non-empty string of at most 200 characters")
    return value.strip()


ROUTES = [
    ("GET", re.compile(r"^/health$"), "health"),
    ("GET", re.compile(r"^/lists$"), "list_lists"),
    ("POST", re.compile(r"^/lists$"), "create_list"),
    ("GET", re.compile(r"^/lists/(\d+)/items$"), "list_items"),
    ("POST", re.compile(r"^/lists/(\d+)/items$"), "add_item"),
    ("PATCH", re.compile(r"^/items/(\d+)$"), "update_item"),
    ("DELETE", re.compile(r"^/items/(\d+)$"), "delete_item"),
]


class Handler(BaseHTTPRequestHandler):
    """Routes requests to the store and answers JSON; errors are {"error": {"code", "message"}}."""

    store = None

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def dispatch(self, method):
        path = self.path.split("?", 1)[0]
        allowed = False
        for route_method, pattern, name in ROUTES:
            match = pattern.match(path)
            if match is None:
                continue
            allowed = True
            if route_method == method:
                try:
                    status, body = getattr(self, name)(*[int(group) for group in match.groups()])
                except NotFound as error:
                    status, body = 404, error_body("not_found", str(error))
                except Invalid as error:
                    status, body = 400, error_body("invalid_request", str(error))
                self.answer(status, body)
                return
        if allowed:
            self.answer(405, error_body("method_not_allowed", f"{method} is not allowed on {path}"))
        else:
            self.answer(404, error_body("not_found", f"no route for {path}"))

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise Invalid("the body is too large")
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            raise Invalid("the body is not valid JSON")
        if not isinstance(body, dict):
            raise Invalid("the body must be a JSON object")
        return body

    def answer(self, status, body):
        data = b"" if body is None else json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Access-Control-Allow-Origin", "*")
        self.end_headers()
        self.wfile.write(data)

    def health(self):
        return 200, {"status": "ok"}

    def list_lists(self):
        return 200, self.store.lists()

    def create_list(self):
        return 201, self.store.create_list(text_field(self.body(), "name"))

    def list_items(self, list_id):
        return 200, self.store.items(list_id)

    def add_item(self, list_id):
        return 201, self.store.add_item(list_id, text_field(self.body(), "title"))

    def update_item(self, item_id):
        body = self.body()
        changes = {}
        if "title" in body:
            changes["title"] = text_field(body, "title")
        if "done" in body:
            if not isinstance(body["done"], bool):
                raise Invalid("`done` must be true or false")
            changes["done"] = body["done"]
        return 200, self.store.update_item(item_id, changes)

    def delete_item(self, item_id):
        self.store.delete_item(item_id)
        return 204, None


def error_body(code, message):
    return {"error": {"code": code, "message": message}}


def make_server(address, store):
    """Returns a server bound to `address` (port 0 picks a free one) answering from `store`."""
    handler = type("BoundHandler", (Handler,), {"store": store})
    return ThreadingHTTPServer(address, handler)


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8000"))
    server = make_server(("0.0.0.0", port), Store(os.environ.get("DATABASE", ":memory:")))
    print(f"{{project}} listening on port {port}", flush=True)
    server.serve_forever()
