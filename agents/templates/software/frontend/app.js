'use strict';
/**
 * {{title}}: the browser client. Pure functions (rendering, the API client) are exported for
 * tests under Node; in a browser the page wires them to the DOM.
 */

/** Returns an API client for `baseUrl` that uses `fetchImpl` (the browser's fetch by default). */
function createClient(baseUrl, fetchImpl) {
  const send = fetchImpl || globalThis.fetch;
  async function call(method, path, body) {
    const response = await send(baseUrl + path, {
      method,
      headers: { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 204) {
      return null;
    }
    const data = await response.json();
    if (!response.ok) {
      const message = data && data.error ? data.error.message : 'HTTP ' + response.status;
      throw new Error(message);
    }
    return data;
  }
  return {
    lists: () => call('GET', '/lists'),
    createList: (name) => call('POST', '/lists', { name }),
    items: (listId) => call('GET', '/lists/' + listId + '/items'),
    addItem: (listId, title) => call('POST', '/lists/' + listId + '/items', { title }),
    toggle: (item) => call('PATCH', '/items/' + item.id, { done: !item.done }),
    remove: (item) => call('DELETE', '/items/' + item.id),
  };
}

/** Escapes text for HTML. */
function escapeHtml(text) {
  return String(text)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** Renders items as an HTML list. */
function renderItems(items) {
  if (items.length === 0) {
    return '<p class="empty">Nothing here yet.</p>';
  }
  const rows = items.map(
    (item) =>
      '<li data-id="' + item.id + '" class="' + (item.done ? 'done' : 'open') + '">' + escapeHtml(item.title) + '</li>',
  );
  return '<ul>' + rows.join('') + '</ul>';
}

/** Says how many items are done. */
function summary(items) {
  const done = items.filter((item) => item.done).length;
  return done + ' of ' + items.length + ' done';
}

if (typeof module !== 'undefined' && module.exports) {
  module.exports = { createClient, escapeHtml, renderItems, summary };
}

if (typeof document !== 'undefined') {
  const client = createClient(document.body.dataset.api || 'http://localhost:8000');
  const state = { list: null };
  const refresh = async () => {
    const items = await client.items(state.list.id);
    document.getElementById('items').innerHTML = renderItems(items);
    document.getElementById('summary').textContent = summary(items);
  };
  document.getElementById('add').addEventListener('submit', async (event) => {
    event.preventDefault();
    const input = document.getElementById('title');
    if (!state.list) {
      state.list = await client.createList('{{title}}');
    }
    await client.addItem(state.list.id, input.value);
    input.value = '';
    await refresh();
  });
}
