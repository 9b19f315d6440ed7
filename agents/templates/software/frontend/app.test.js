'use strict';
// Tests of the {{title}} client, run with `node --test`.
const test = require('node:test');
const assert = require('node:assert/strict');
const { createClient, escapeHtml, renderItems, summary } = require('./app.js');

function fakeFetch(answers) {
  const calls = [];
  const fetch = async (url, options) => {
    calls.push({ url, method: options.method, body: options.body && JSON.parse(options.body) });
    const [status, body] = answers.shift();
    return { status, ok: status < 400, json: async () => body };
  };
  return { fetch, calls };
}

test('the client sends the API calls the backend serves', async () => {
  const { fetch, calls } = fakeFetch([
    [201, { id: 1, name: 'Groceries' }],
    [201, { id: 7, list_id: 1, title: 'Milk', done: false }],
    [200, { id: 7, list_id: 1, title: 'Milk', done: true }],
    [204, null],
  ]);
  const client = createClient('http://api', fetch);
  const list = await client.createList('Groceries');
  const item = await client.addItem(list.id, 'Milk');
  const toggled = await client.toggle(item);
  assert.equal(toggled.done, true);
  assert.equal(await client.remove(item), null);
  assert.deepEqual(
    calls.map((call) => call.method + ' ' + call.url),
    ['POST http://api/lists', 'POST http://api/lists/1/items', 'PATCH http://api/items/7', 'DELETE http://api/items/7'],
  );
  assert.deepEqual(calls[2].body, { done: true });
});

test('API errors become exceptions with the server message', async () => {
  const { fetch } = fakeFetch([[400, { error: { code: 'invalid_request', message: '`name` must be a non-empty string' } }]]);
  await assert.rejects(createClient('http://api', fetch).createList(''), /non-empty string/);
});

test('rendering escapes text and summarises progress', () => {
  const items = [
    { id: 1, title: '<b>bold</b>', done: true },
    { id: 2, title: 'plain', done: false },
  ];
  const html = renderItems(items);
  assert.ok(html.includes('&lt;b&gt;bold&lt;/b&gt;'));
  assert.ok(!html.includes('<b>'));
  assert.equal(summary(items), '1 of 2 done');
  assert.equal(renderItems([]), '<p class="empty">Nothing here yet.</p>');
  assert.equal(escapeHtml('"a" & \'b\''), '&quot;a&quot; &amp; &#39;b&#39;');
});
