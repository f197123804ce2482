// Tandem's operator console. Everything shown comes from this server's JSON API, called with
// the operator's bearer token (kept in this tab's sessionStorage only); nothing is fetched from
// anywhere else, and no text from the API is ever parsed as HTML.
'use strict';

(function () {
  const REFRESH_MS = 10000;
  const WATCH_MS = 1000;
  const WATCH_TRIES = 60;

  const $ = (id) => document.getElementById(id);
  const session = window.sessionStorage;
  let timer = null;

  // --- the API ---------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(method, path, body) {
    const headers = { Authorization: 'Bearer ' + session.getItem('tandem.token') };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res;
    try {
      res = await fetch(path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer',
      });
    } catch (e) {
      throw new ApiError(0, 'Tandem cannot be reached: ' + e.message);
    }
    let json = null;
    try {
      json = await res.json();
    } catch (e) {
      // Not JSON: the status says enough.
    }
    if (!res.ok) {
      const message = json && json.error ? json.error.message : 'HTTP ' + res.status;
      throw new ApiError(res.status, message);
    }
    return json;
  }

  const post = (path, body) => api('POST', path, body || {});
  const by = () => session.getItem('tandem.name');

  // --- small DOM helpers ----------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') node.className = v;
      else if (k === 'onclick') node.addEventListener('click', v);
      else node.setAttribute(k, v);
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      node.append(c instanceof Node ? c : String(c));
    }
    return node;
  }

  function fill(tableId, rows, emptyText, columns) {
    const body = $(tableId).querySelector('tbody');
    body.replaceChildren();
    if (!rows.length) {
      body.append(el('tr', { class: 'empty' }, el('td', { colspan: String(columns) }, emptyText)));
      return;
    }
    for (const r of rows) body.append(r);
  }

  function when(rfc3339) {
    if (!rfc3339) return '';
    const d = new Date(rfc3339);
    return isNaN(d) ? rfc3339 : d.toLocaleString();
  }

  function notice(text, kind) {
    const n = $('notice');
    n.textContent = text;
    n.dataset.kind = kind || '';
  }

  // --- sign in / out --------------------------------------------------------------------

  function showLogin(message) {
    if (timer) clearInterval(timer);
    timer = null;
    session.removeItem('tandem.token');
    $('app').hidden = true;
    $('logout').hidden = $('refresh').hidden = true;
    $('who').textContent = '';
    $('login').hidden = false;
    $('login-error').textContent = message || '';
  }

  async function signIn(token, name) {
    session.setItem('tandem.token', token);
    session.setItem('tandem.name', name);
    try {
      await refresh();
    } catch (e) {
      showLogin(e.status === 401 ? 'Tandem does not know this token.'
        : e.status === 403 ? 'This token has no operator scope: ' + e.message : e.message);
      return;
    }
    $('login').hidden = true;
    $('app').hidden = false;
    $('logout').hidden = $('refresh').hidden = false;
    $('who').textContent = 'signed in as ' + name;
    timer = setInterval(() => refresh().catch(onError), REFRESH_MS);
  }

  function onError(e) {
    if (e.status === 401 || e.status === 403) showLogin('Signed out: ' + e.message);
    else notice(e.message, 'bad');
  }

  // --- what the console shows -----------------------------------------------------------

  async function refresh() {
    const [overview, orders, events, syncs] = await Promise.all([
      api('GET', '/api/v1/console/overview'),
      post('/api/v1/workorders/list', { state: 'failed', limit: 100 }),
      post('/api/v1/events/list', { limit: 100 }),
      post('/api/v1/syncs/failures', { limit: 100 }),
    ]);
    showHealth(overview.health);
    showQueues(overview.queues);
    showChart(overview.activity);
    showRuns(overview);
    showWorkOrders(orders.orders || []);
    showEvents(events.events || []);
    showSyncs(syncs.failures || []);
  }

  function showHealth(h) {
    const pill = $('health');
    pill.dataset.state = h && h.ok ? 'ok' : 'bad';
    pill.textContent = h && h.ok ? 'healthy · schema ' + h.schema_version
      : 'not healthy: ' + ((h && h.error) || 'unknown');
  }

  function showQueues(q) {
    const box = $('queues');
    box.replaceChildren();
    if (!q || q.error) {
      box.append(el('p', { class: 'error' }, 'Queues unavailable: ' + (q ? q.error : '')));
      return;
    }
    const card = (title, waiting, waitingLabel, failed, failedLabel, rest) => {
      const c = el('div', { class: 'card', 'data-queue': title });
      c.append(el('div', { class: 'title' }, title));
      c.append(el('div', { class: 'big' }, waiting, el('span', { class: 'sub' }, ' ' + waitingLabel)));
      c.append(el('div', { class: failed ? 'big bad' : 'big' }, failed,
        el('span', { class: 'sub' }, ' ' + failedLabel)));
      if (rest) c.append(el('div', { class: 'rest' }, rest));
      box.append(c);
    };
    const n = (m, k) => (m && m[k]) || 0;
    const t = q.tasks || {}, i = q.inbox || {}, j = q.jobs || {}, s = q.sync_failures || {};
    card('Work-order tasks', n(t, 'pending') + n(t, 'running'), 'waiting or running',
      n(t, 'failed'), 'failed', n(t, 'done') + ' done');
    card('Billing events', n(i, 'pending'), 'to apply', n(i, 'failed'), 'failed',
      n(i, 'done') + ' applied');
    card('Sync retries', n(s, 'pending'), 'scheduled', n(s, 'given_up'), 'given up');
    card('Jobs', n(j, 'queued') + n(j, 'running'), 'queued or running', n(j, 'failed'),
      'failed', n(j, 'done') + ' done');
  }

  function showChart(a) {
    const box = $('chart');
    box.replaceChildren();
    if (!a || a.error) {
      box.append(el('p', { class: 'error' }, 'Activity unavailable: ' + (a ? a.error : '')));
      return;
    }
    const NS = 'http://www.w3.org/2000/svg';
    const W = 720, H = 170, left = 36, bottom = 18, top = 8;
    const series = [['synced', a.synced], ['tasks', a.tasks_done], ['events', a.events_received]];
    const buckets = a.synced.length;
    let max = 1;
    for (let b = 0; b < buckets; b++)
      max = Math.max(max, series.reduce((sum, s) => sum + s[1][b], 0));
    const svg = document.createElementNS(NS, 'svg');
    svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    svg.setAttribute('preserveAspectRatio', 'none');
    svg.setAttribute('role', 'img');
    const total = series.map((s) => s[1].reduce((x, y) => x + y, 0));
    svg.setAttribute('aria-label', `last hour: ${total[0]} records synced, ${total[1]} tasks done, ` +
      `${total[2]} events received`);
    const add = (tag, attrs, text) => {
      const n = document.createElementNS(NS, tag);
      for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
      if (text !== undefined) n.textContent = text;
      svg.append(n);
      return n;
    };
    const plotH = H - bottom - top, slot = (W - left) / buckets;
    add('line', { x1: left, y1: top, x2: W, y2: top });
    add('line', { x1: left, y1: H - bottom, x2: W, y2: H - bottom });
    add('text', { x: 2, y: top + 8 }, String(max) + '/min');
    add('text', { x: 2, y: H - bottom }, '0');
    add('text', { x: left, y: H - 4 }, '60 min ago');
    add('text', { x: W - 30, y: H - 4 }, 'now');
    const since = new Date(a.since).getTime();
    for (let b = 0; b < buckets; b++) {
      let y = H - bottom;
      for (const [cls, values] of series) {
        const h = (values[b] / max) * plotH;
        if (h <= 0) continue;
        y -= h;
        const r = add('rect', { class: cls, x: left + b * slot + 1, y, width: Math.max(slot - 2, 1), height: h });
        const at = new Date(since + b * a.bucket_seconds * 1000);
        const t = document.createElementNS(NS, 'title');
        t.textContent = `${at.toLocaleTimeString()}: ${values[b]} ${cls}`;
        r.append(t);
      }
    }
    box.append(svg);
  }

  function showRuns(o) {
    const rows = [];
    const scheduled = (what, last) => {
      if (!last || last.error && !last.at) return;
      const counts = what === 'catalog'
        ? [last.written || 0, last.failed || 0]
        : [(last.differences || 0) + ' differences, ' + (last.fixed || 0) + ' fixed',
          last.remaining || 0];
      rows.push(el('tr', { 'data-run': what }, el('td', {}, 'scheduled ' + what),
        el('td', {}, what === 'catalog' ? 'products from billing' : (last.objects || []).join(', ')),
        el('td', {}, last.ok ? 'done' : 'failed: ' + (last.error || '')),
        el('td', {}, counts[0]), el('td', {}, counts[1]), el('td', {}, when(last.at)),
        el('td', {}, (last.seconds || 0).toFixed(1) + ' s')));
    };
    scheduled('catalog', o.catalog);
    scheduled('reconcile', o.reconcile);
    for (const r of Array.isArray(o.runs) ? o.runs : []) {
      rows.push(el('tr', { 'data-run': r.id }, el('td', { class: 'id' }, r.id),
        el('td', {}, r.kind + (r.object ? ' ' + r.object : '') + (r.direction ? ' ' + r.direction : '')),
        el('td', {}, r.state), el('td', {}, r.processed + ' / ' + r.total), el('td', {}, r.failed),
        el('td', {}, when(r.started_at)), el('td', {}, when(r.updated_at))));
    }
    fill('runs', rows, 'No runs yet.', 7);
  }

  function button(label, cls, action) {
    const b = el('button', { type: 'button', class: cls });
    b.textContent = label;
    b.addEventListener('click', async () => {
      b.disabled = true;
      try {
        await action();
      } catch (e) {
        onError(e);
      } finally {
        b.disabled = false;
      }
    });
    return b;
  }

  function askReason(what) {
    const reason = window.prompt('Why dismiss ' + what + '? (recorded in the audit)');
    return reason && reason.trim() ? reason.trim() : null;
  }

  function showWorkOrders(orders) {
    fill('workorders', orders.map((o) => el('tr', { 'data-order': o.order_id },
      el('td', { class: 'id' }, o.order_id), el('td', {}, o.done + ' / ' + o.tasks + ' done'),
      el('td', {}, o.failed), el('td', {}, when(o.updated_at)), el('td', { class: 'err' }, o.error || ''),
      el('td', { class: 'actions' },
        button('Retry', 'primary retry', () => retryOrder(o.order_id)),
        button('Dismiss', 'dismiss', async () => {
          const reason = askReason('order ' + o.order_id);
          if (!reason) return;
          await post('/api/v1/workorders/dismiss', { order_id: o.order_id, by: by(), reason });
          notice('Order ' + o.order_id + ' dismissed.', 'ok');
          await refresh();
        })))), 'No failed work orders.', 6);
  }

  // Retries the order's failed tasks, then watches it until the workers are done with it.
  async function retryOrder(orderId) {
    const r = await post('/api/v1/workorders/retry', { order_id: orderId, by: by() });
    notice('Order ' + orderId + ': ' + r.changed + ' task(s) retried, waiting for the workers…');
    await refresh();
    for (let i = 0; i < WATCH_TRIES; i++) {
      await new Promise((done) => setTimeout(done, WATCH_MS));
      const s = await post('/api/v1/workorders/show', { order_id: orderId });
      if (s.status === 'Completed') {
        notice('Order ' + orderId + ' completed: ' + s.done + ' of ' + s.total + ' tasks done.', 'ok');
        await refresh();
        return;
      }
      if (s.status === 'Failed') {
        notice('Order ' + orderId + ' failed again: ' + (s.error || 'see its history'), 'bad');
        await refresh();
        return;
      }
    }
    notice('Order ' + orderId + ' is still running; it shows here if it fails again.');
  }

  function showEvents(events) {
    fill('events', events.map((e) => el('tr', { 'data-event': e.event_id },
      el('td', { class: 'id' }, e.event_id), el('td', {}, e.type), el('td', {}, when(e.received_at)),
      el('td', {}, e.attempts), el('td', { class: 'err' }, e.last_error || ''),
      el('td', { class: 'actions' },
        button('Replay', 'primary replay', async () => {
          await post('/api/v1/events/replay', { event_id: e.event_id, by: by() });
          notice('Event ' + e.event_id + ' queued to be applied again.', 'ok');
          await refresh();
        }),
        button('Dismiss', 'dismiss', async () => {
          const reason = askReason('event ' + e.event_id);
          if (!reason) return;
          await post('/api/v1/events/dismiss', { event_id: e.event_id, by: by(), reason });
          notice('Event ' + e.event_id + ' dismissed.', 'ok');
          await refresh();
        })))), 'No failed billing events.', 6);
  }

  function showSyncs(failures) {
    fill('syncs', failures.map((f) => el('tr', { 'data-record': f.crm_id },
      el('td', { class: 'id' }, f.object + ' ' + f.crm_id), el('td', {}, f.state.replace('_', ' ')),
      el('td', {}, f.attempts), el('td', {}, when(f.next_retry_at)),
      el('td', { class: 'err' }, f.last_error))), 'No sync failures.', 5);
  }

  async function showHistory(id) {
    const box = $('history');
    box.replaceChildren(el('p', {}, 'Loading…'));
    let h;
    try {
      h = await api('GET', '/api/v1/records/' + encodeURIComponent(id) + '/history?limit=100');
    } catch (e) {
      box.replaceChildren(el('p', { class: 'error' }, e.message));
      if (e.status === 401 || e.status === 403) onError(e);
      return;
    }
    box.replaceChildren();
    const links = h.links || [];
    box.append(el('p', {}, links.length
      ? links.map((l) => `${l.object}: CRM ${l.crm_id} ↔ billing ${l.billing_id}`).join('; ')
      : 'Not linked.'));
    const table = el('table', { id: 'history-entries' }, el('thead', {}, el('tr', {},
      el('th', {}, 'When'), el('th', {}, 'Who'), el('th', {}, 'Object'), el('th', {}, 'Action'),
      el('th', {}, 'Outcome'), el('th', {}, 'Detail'))));
    const body = el('tbody');
    for (const e of h.entries || [])
      body.append(el('tr', {}, el('td', {}, when(e.at)), el('td', {}, e.actor), el('td', {}, e.object),
        el('td', {}, e.action), el('td', {}, e.outcome), el('td', {}, e.detail || '')));
    if (!(h.entries || []).length)
      body.append(el('tr', { class: 'empty' }, el('td', { colspan: '6' }, 'Nothing recorded.')));
    table.append(body);
    box.append(table);
    if (h.tasks) {
      box.append(el('h3', {}, 'Work-order tasks'));
      const tasks = el('table', {}, el('thead', {}, el('tr', {}, el('th', {}, 'Kind'),
        el('th', {}, 'State'), el('th', {}, 'Attempts'), el('th', {}, 'Idempotency key'),
        el('th', {}, 'Error'))));
      const tb = el('tbody');
      for (const t of h.tasks)
        tb.append(el('tr', {}, el('td', {}, t.kind), el('td', {}, t.state), el('td', {}, t.attempts),
          el('td', { class: 'id' }, t.idempotency_key), el('td', { class: 'err' }, t.last_error || '')));
      tasks.append(tb);
      box.append(tasks);
    }
  }

  // --- wiring ---------------------------------------------------------------------------

  $('login-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    signIn($('token').value.trim(), $('name').value.trim());
    $('token').value = '';
  });
  $('logout').addEventListener('click', () => showLogin(''));
  $('refresh').addEventListener('click', () => refresh().catch(onError));
  $('history-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    showHistory($('record-id').value.trim());
  });
  $('name').value = session.getItem('tandem.name') || '';
  if (session.getItem('tandem.token')) signIn(session.getItem('tandem.token'), by() || 'operator');
})();
