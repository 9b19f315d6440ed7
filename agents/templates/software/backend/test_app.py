"""Tests of the {{title}} API: a real server on a free loopback port, called over HTTP."""

import json
import threading
import unittest
import urllib.error
import urllib.request

from app import Store, make_server


class ApiTest(unittest.TestCase):
    def setUp(self):
        self.server = make_server(("127.0.0.1", 0), Store())
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def tearDown(self):
        self.server.shutdown()
        self.server.server_close()

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def test_health(self):
        self.assertEqual(self.call("GET", "/health"), (200, {"status": "ok"}))

    def test_lists_and_items_round_trip(self):
        status, created = self.call("POST", "/lists", {"name": "Groceries"})
        self.assertEqual(status, 201)
        self.assertEqual(created["name"], "Groceries")
        status, item = self.call("POST", f"/lists/{created['id']}/items", {"title": "Milk"})
        self.assertEqual(status, 201)
        self.assertFalse(item["done"])
        status, item = self.call("PATCH", f"/items/{item['id']}", {"done": True})
        self.assertEqual((status, item["done"]), (200, True))
        status, items = self.call("GET", f"/lists/{created['id']}/items")
        self.assertEqual([entry["title"] for entry in items], ["Milk"])
        self.assertEqual(self.call("DELETE", f"/items/{item['id']}"), (204, None))
        self.assertEqual(self.call("GET", f"/lists/{created['id']}/items"), (200, []))

    def test_bad_input_is_refused_with_a_reason(self):
        status, body = self.call("POST", "/lists", {"name": ""})
        self.assertEqual(status, 400)
        self.assertIn("name", body["error"]["message"])
        _, created = self.call("POST", "/lists", {"name": "Chores"})
        _, item = self.call("POST", f"/lists/{created['id']}/items", {"title": "Dishes"})
        status, body = self.call("PATCH", f"/items/{item['id']}", {"done": "yes"})
        self.assertEqual(status, 400)
        self.assertIn("done", body["error"]["message"])
        self.assertEqual(self.call("PATCH", "/items/999", {"done": True})[0], 404)

    def test_unknown_records_and_routes(self):
        self.assertEqual(self.call("GET", "/lists/99/items")[0], 404)
        self.assertEqual(self.call("POST", "/lists/99/items", {"title": "x"})[0], 404)
        self.assertEqual(self.call("GET", "/nowhere")[0], 404)
        self.assertEqual(self.call("DELETE", "/lists")[0], 405)

    def test_the_schema_enforces_foreign_keys(self):
        store = Store()
        with self.assertRaises(Exception):
            with store.db:
                store.db.execute("INSERT INTO items (list_id, title) VALUES (42, 'orphan')")


if __name__ == "__main__":
    unittest.main()
