// The order feed page: served by tablecast itself (--static), so it shares the API's origin. The
// session cookie from POST /auth/login rides along on fetch() and on EventSource (which cannot send
// headers), with no CORS and no token in the URL.
const $ = (id) => document.getElementById(id);
const rows = new Map(); // order id → <tr>
let source;

async function call(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = res.status === 204 ? null : await res.json();
  if (!res.ok) throw new Error(data?.message ?? `${res.status}`);
  return data;
}

function show(order, fresh) {
  let tr = rows.get(order.id);
  if (!tr) {
    tr = document.createElement('tr');
    rows.set(order.id, tr);
    $('orders').prepend(tr);
  }
  tr.dataset.id = String(order.id);
  tr.className = fresh ? 'fresh' : '';
  const items = order.lines.reduce((n, line) => n + line.quantity, 0);
  const cells = [order.id, order.customerEmail, items, order.total.toFixed(2), order.placedAt ? new Date(order.placedAt).toLocaleString() : ''];
  tr.replaceChildren(...cells.map((text) => Object.assign(document.createElement('td'), { textContent: String(text) })));
}

function remove(id) {
  rows.get(id)?.remove();
  rows.delete(id);
}

/** Follows the order table: the current orders arrive first (event `message`), then every change. */
function follow() {
  source = new EventSource('/shop/order?stream=sse');
  source.addEventListener('open', () => {
    $('status').textContent = 'live';
    $('status').className = 'live';
  });
  source.addEventListener('error', () => {
    // EventSource reconnects by itself, resuming with Last-Event-ID: nothing is lost meanwhile.
    $('status').textContent = 'reconnecting';
    $('status').className = '';
  });
  source.addEventListener('message', (e) => {
    const data = JSON.parse(e.data);
    if (data.type !== 'connected') show(data, false);
  });
  source.addEventListener('update', (e) => show(JSON.parse(e.data), true));
  source.addEventListener('delete', (e) => remove(JSON.parse(e.data).id));
}

async function start() {
  const me = await call('GET', '/auth/me');
  if (!me.user) return;
  $('user').textContent = me.user;
  $('login').hidden = true;
  $('feed').hidden = false;
  follow();
}

$('login').addEventListener('submit', async (e) => {
  e.preventDefault();
  const form = new FormData(e.target);
  try {
    await call('POST', '/auth/login', { username: form.get('username'), password: form.get('password') });
    $('login-error').textContent = '';
    await start();
  } catch (err) {
    $('login-error').textContent = err.message;
  }
});

$('logout').addEventListener('click', async () => {
  source?.close();
  await call('POST', '/auth/logout');
  location.reload();
});

start().catch((err) => {
  $('login-error').textContent = err.message;
});
