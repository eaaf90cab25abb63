// Pincer's built-in dashboard and web chat. Plain ES module, no build step, no dependencies.
// The page itself is public and holds no data: everything comes from the API with the bearer
// token the user gives when the API answers 401 (kept in localStorage).

const TOKEN_KEY = 'pincer.token';
const CONVERSATION_KEY = 'pincer.conversationId';
const POLL_MS = 1000;
const WINDOW_MS = 300_000;
const MB = 1024 * 1024;

const $ = (selector) => document.querySelector(selector);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// ---- API -------------------------------------------------------------------------------------

class AuthError extends Error {}

function authHeaders() {
  const token = localStorage.getItem(TOKEN_KEY);
  return token ? { authorization: `Bearer ${token}` } : {};
}

async function api(path, init = {}) {
  const res = await fetch(path, { ...init, headers: { ...authHeaders(), ...init.headers } });
  if (res.status === 401) {
    askForToken(localStorage.getItem(TOKEN_KEY) ? 'That token was not accepted.' : '');
    throw new AuthError('an API token is needed');
  }
  return res;
}

async function errorText(res) {
  try {
    const body = await res.json();
    return body?.error?.message ?? `HTTP ${res.status}`;
  } catch {
    return `HTTP ${res.status}`;
  }
}

// ---- auth ------------------------------------------------------------------------------------

function askForToken(message) {
  localStorage.removeItem(TOKEN_KEY);
  clearTimeout(pollTimer);
  setConnection('auth', 'sign-in needed');
  $('#main').hidden = true;
  $('#auth').hidden = false;
  $('#auth-error').textContent = message;
  $('#token').focus();
}

$('#auth-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const token = $('#token').value.trim();
  if (!token) return;
  localStorage.setItem(TOKEN_KEY, token);
  $('#token').value = '';
  $('#auth').hidden = true;
  $('#main').hidden = false;
  setConnection('connecting', 'connecting');
  void poll();
  void restoreConversation();
});

// ---- charts ----------------------------------------------------------------------------------

/**
 * A small line chart on a <canvas>: the last 1 to 5 minutes, y from 0 to a rounded maximum of
 * the series in `scaleBy` (others are clipped at the top, e.g. a queue limit far above the depth).
 */
class LineChart {
  constructor(figure, { fixedMax, format, scaleBy }) {
    this.figure = figure;
    this.scaleBy = scaleBy;
    this.canvas = figure.querySelector('canvas');
    this.output = figure.querySelector('.now');
    this.label = this.canvas.getAttribute('aria-label');
    this.fixedMax = fixedMax;
    this.format = format;
    this.times = [];
    this.series = [];
    new ResizeObserver(() => this.draw()).observe(this.canvas);
  }

  update(times, series) {
    this.times = times;
    this.series = series;
    const latest = series.map((values) => values.at(-1) ?? null);
    const first = latest[0];
    this.figure.dataset.latest = first === null ? '' : String(first);
    const peak = Math.max(0, ...series[0].filter((v) => v !== null));
    this.figure.dataset.peak = String(peak);
    const text = latest.map((v) => (v === null ? '–' : this.format(v))).join(' / ');
    this.output.textContent = text;
    this.canvas.setAttribute('aria-label', `${this.label}, now ${text}`);
    this.draw();
  }

  draw() {
    const { canvas } = this;
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (!width || !height) return;
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const style = getComputedStyle(document.documentElement);
    const color = (name) => style.getPropertyValue(name).trim();

    let max = this.fixedMax;
    if (max === undefined) {
      let seen = 0;
      this.series.forEach((values, i) => {
        if (!this.scaleBy || this.scaleBy.includes(i)) for (const v of values) if (v !== null && v > seen) seen = v;
      });
      max = niceCeil(seen);
    }
    const top = 4;
    const bottom = height - 14;
    const y = (v) => bottom - (v / max) * (bottom - top);
    const end = this.times.at(-1) ?? Date.now();
    const span = Math.min(WINDOW_MS, Math.max(60_000, end - (this.times[0] ?? end)));
    const x = (t) => width - ((end - t) / span) * width;

    ctx.font = '10px system-ui, sans-serif';
    ctx.lineWidth = 1;
    ctx.strokeStyle = color('--line');
    ctx.fillStyle = color('--muted');
    for (const v of [0, max / 2, max]) {
      ctx.beginPath();
      ctx.moveTo(0, Math.round(y(v)) + 0.5);
      ctx.lineTo(width, Math.round(y(v)) + 0.5);
      ctx.stroke();
      if (v > 0) ctx.fillText(this.format(v), 2, y(v) + 11);
    }
    ctx.fillText(`${Math.round(span / 60_000)} min`, 2, height - 2);
    ctx.fillText('now', width - 20, height - 2);

    ctx.lineWidth = 1.5;
    ctx.lineJoin = 'round';
    this.series.forEach((values, i) => {
      ctx.strokeStyle = ctx.fillStyle = color(`--s${i}`);
      ctx.beginPath();
      let drawing = false;
      values.forEach((v, j) => {
        if (v === null) {
          drawing = false;
          return;
        }
        const px = x(this.times[j]);
        const py = y(Math.min(v, max));
        if (drawing) ctx.lineTo(px, py);
        else ctx.moveTo(px, py);
        drawing = true;
      });
      ctx.stroke();
      const last = values.at(-1);
      if (last !== null && last !== undefined) {
        ctx.beginPath();
        ctx.arc(width - 3, y(Math.min(last, max)), 2.5, 0, 2 * Math.PI);
        ctx.fill();
      }
    });
  }
}

function niceCeil(v) {
  if (v <= 0) return 1;
  const step = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * step >= v) return m * step;
  return 10 * step;
}

function fmt(v, unit = '') {
  const digits = Math.abs(v) >= 100 || Number.isInteger(v) ? 0 : Math.abs(v) >= 10 ? 1 : 2;
  return `${Number(v.toFixed(digits)).toLocaleString()}${unit}`;
}

function bytes(n) {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n >= 100 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
}

const pct = (ratio) => (ratio === null ? null : ratio * 100);

/** chart element id, how to draw it, and the series it plots from a sample. */
const CHARTS = [
  ['chart-rate', {}, (s) => [s.messagesPerSecond, s.acceptedPerSecond]],
  ['chart-latency', {}, (s) => [s.p50Ms, s.p99Ms]],
  ['chart-queue', { scaleBy: [0] }, (s) => [s.queueDepth, s.queueLimit]],
  ['chart-success', { fixedMax: 100 }, (s) => [pct(s.successRate)]],
  ['chart-cpu', { fixedMax: 100 }, (s) => [pct(s.cpuRatio)]],
  ['chart-memory', {}, (s) => [s.rssBytes / MB]],
  ['chart-workers', {}, (s) => [s.busyWorkers, s.workers]],
].map(([id, options, pick]) => {
  const figure = document.getElementById(id);
  const unit = figure.dataset.unit;
  return { chart: new LineChart(figure, { ...options, format: (v) => fmt(v, unit) }), pick };
});

// Colours come from CSS variables: redraw when the colour scheme changes.
matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => CHARTS.forEach(({ chart }) => chart.draw()));

// ---- live stats ------------------------------------------------------------------------------

let pollTimer;
let lastUpdate = 0;
let lastTables = '';

function setConnection(state, text) {
  const conn = $('#conn');
  conn.dataset.state = state;
  conn.textContent = text;
}

async function poll() {
  clearTimeout(pollTimer);
  if (!document.hidden) {
    try {
      const res = await api('/v1/stats');
      if (!res.ok) throw new Error(await errorText(res));
      const stats = await res.json();
      render(stats);
      renderChannels(stats.channels ?? []);
      lastUpdate = Date.now();
      showUpdated();
      setConnection('live', 'live');
    } catch (err) {
      if (err instanceof AuthError) return; // polling resumes once a token is given
      setConnection('offline', `offline: ${err.message}`);
    }
  }
  pollTimer = setTimeout(poll, POLL_MS);
}

document.addEventListener('visibilitychange', () => {
  if (!document.hidden && $('#auth').hidden) void poll();
});

function render(stats) {
  $('#bot-name').textContent = stats.botName;
  document.title = `${stats.botName} · Pincer`;
  $('#version').textContent = `Pincer ${stats.version}`;
  $('#uptime').textContent = `up ${duration(stats.uptimeSeconds)}`;

  const samples = [...stats.history];
  if (!samples.length || samples.at(-1).t < stats.now.t) samples.push(stats.now);
  const times = samples.map((s) => s.t);
  for (const { chart, pick } of CHARTS) {
    const picked = samples.map(pick);
    chart.update(times, picked[0].map((_, i) => picked.map((row) => row[i] ?? null)));
  }

  const { disk, memory, queue, workers } = stats;
  $('#disk').value = disk.freeRatio;
  $('#disk-text').textContent = `${bytes(disk.freeBytes)} of ${bytes(disk.sizeBytes)} (${fmt(disk.freeRatio * 100, '%')})`;
  $('#heap').textContent = `${bytes(memory.heapUsedBytes)} of ${bytes(memory.heapLimitBytes)}`;
  const p = queue.byPriority;
  $('#queue-detail').textContent = `${queue.depth} (high ${p.high}, normal ${p.normal}, low ${p.low}); limit ${queue.limit} of ${queue.limitCap}`;
  $('#done-dead').textContent = `${queue.done.toLocaleString()} / ${queue.dead.toLocaleString()}`;
  const change = workers.lastChange ? `; last ${workers.lastChange.from}→${workers.lastChange.to} (${workers.lastChange.reason})` : '';
  $('#autoscale').textContent = workers.autoscale ? `on, ${workers.min}–${workers.max}${change}` : `off (${workers.concurrency})`;
  $('#lag').textContent = fmt(stats.now.eventLoopLagMs, ' ms');

  const tables = JSON.stringify([stats.plugins, stats.models]);
  if (tables !== lastTables) {
    lastTables = tables;
    renderTables(stats.plugins, stats.models);
  }
}

function duration(seconds) {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  return m ? `${m}m ${Math.floor(seconds % 60)}s` : `${Math.floor(seconds)}s`;
}

function badge(text, kind) {
  return el('span', `badge ${kind}`, text);
}

function row(cells) {
  const tr = el('tr');
  for (const cell of cells) {
    const td = el('td', cell.num ? 'num' : '');
    if (cell.node) td.append(cell.node);
    else td.textContent = cell.text ?? '';
    tr.append(td);
  }
  return tr;
}

function emptyRow(columns, text) {
  const td = el('td', '', text);
  td.colSpan = columns;
  const tr = el('tr');
  tr.append(td);
  return tr;
}

const STATE_KIND = { enabled: 'ok', loaded: 'ok', running: 'ok', disabled: 'off', failed: 'bad', error: 'bad' };

function renderTables(plugins, models) {
  const pluginRows = plugins.map((p) =>
    row([{ text: p.name }, { text: p.version }, { node: badge(p.state, STATE_KIND[p.state] ?? 'warn') }, { text: p.reason ?? '' }]),
  );
  $('#plugins tbody').replaceChildren(...(pluginRows.length ? pluginRows : [emptyRow(4, 'no plugins')]));
  const modelRows = models.map((m) =>
    row([
      { text: m.id },
      { text: m.provider },
      { text: m.model },
      { text: m.calls.toLocaleString(), num: true },
      { text: m.failures.toLocaleString(), num: true },
      { node: m.coolingDown ? badge('cooling down', 'bad') : badge('ready', 'ok') },
    ]),
  );
  $('#models tbody').replaceChildren(...(modelRows.length ? modelRows : [emptyRow(6, 'no model deployments configured')]));
}

const CHANNEL_KIND = { polling: 'ok', webhook: 'ok', standby: 'off', connecting: 'warn', retrying: 'warn', waiting_plugin: 'warn', unavailable: 'bad', disabled: 'off', stopped: 'off' };
let lastChannels = '';

/** Chat accounts and their outbox, as /v1/stats reports them. */
function renderChannels(accounts) {
  const key = JSON.stringify(accounts);
  if (key === lastChannels) return;
  lastChannels = key;
  const rows = accounts.map((a) => {
    const d = a.deliveries;
    const attention = (d.ambiguous ?? 0) + (d.dead ?? 0);
    return row([
      { text: a.channel },
      { text: a.account },
      { text: a.transport ?? '-' },
      { node: badge(a.leader ? `${a.state} (leader)` : a.state, CHANNEL_KIND[a.state] ?? 'warn') },
      { text: a.lastPollAgeMs === null ? '-' : `${Math.round(a.lastPollAgeMs / 1000)} s ago` },
      { text: a.eventsIn.toLocaleString(), num: true },
      { text: `${(d.queued ?? 0) + (d.failed ?? 0) + (d.sending ?? 0)} waiting, ${(d.sent ?? 0).toLocaleString()} sent`, num: true },
      { node: attention ? badge(`${d.ambiguous ?? 0} ambiguous, ${d.dead ?? 0} dead`, 'bad') : badge('none', 'ok') },
    ]);
  });
  $('#channels tbody').replaceChildren(...(rows.length ? rows : [emptyRow(8, 'no channel accounts configured')]));
}

function showUpdated() {
  if (!lastUpdate) return;
  const updated = $('#updated');
  const age = Math.round((Date.now() - lastUpdate) / 1000);
  updated.dateTime = new Date(lastUpdate).toISOString();
  updated.textContent = `${new Date(lastUpdate).toLocaleTimeString()}${age >= 2 ? ` (${age} s ago)` : ''}`;
}
setInterval(showUpdated, 1000);

// ---- chat ------------------------------------------------------------------------------------

const chatLog = $('#chat-log');

function newConversationId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return `web-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

function conversationId() {
  let id = sessionStorage.getItem(CONVERSATION_KEY);
  if (!id) {
    id = newConversationId();
    sessionStorage.setItem(CONVERSATION_KEY, id);
  }
  return id;
}

function bubble(who, text) {
  const li = el('li', who);
  li.append(el('span', 'text', text));
  if (who === 'me') li.append(el('span', 'analysis'));
  chatLog.append(li);
  chatLog.scrollTop = chatLog.scrollHeight;
  return li;
}

function setText(li, text) {
  li.querySelector('.text').textContent = text;
  chatLog.scrollTop = chatLog.scrollHeight;
}

function fail(li, message) {
  li.classList.add('failed');
  li.dataset.state = 'failed';
  setText(li, `Error: ${message}`);
}

function showAnalysis(li, analysis) {
  const parts = [];
  const { sentiment, language } = analysis ?? {};
  if (sentiment && typeof sentiment.label === 'string') {
    li.dataset.sentiment = sentiment.label;
    parts.push(`sentiment: ${sentiment.label} (${Number(sentiment.score).toFixed(2)})`);
  }
  if (language && typeof language.code === 'string') {
    li.dataset.language = language.code;
    const conf = typeof language.confidence === 'number' ? `, ${language.confidence.toFixed(2)}` : '';
    parts.push(language.code === 'und' ? 'language: undetermined' : `language: ${language.name || language.code} (${language.code}${conf})`);
  }
  li.querySelector('.analysis').textContent = parts.join(' · ');
}

/** The final state of a message, from GET /v1/messages/:id, onto its two bubbles. */
function showMessage(view, me, bot) {
  showAnalysis(me, view.analysis);
  if (view.reply) {
    setText(bot, view.reply.text);
    bot.dataset.state = 'done';
  } else if (view.status === 'dead') {
    fail(bot, view.lastError ?? 'the message could not be answered');
  } else {
    bot.dataset.state = 'pending';
    setText(bot, `(${view.status}: no reply yet)`);
  }
}

/** Read the message's server-sent events with fetch (EventSource cannot send a bearer token). */
async function follow(id, bot) {
  const res = await api(`/v1/messages/${encodeURIComponent(id)}/events`, { headers: { accept: 'text/event-stream' } });
  if (!res.ok || !res.body) throw new Error(await errorText(res));
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let streamed = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let cut;
    while ((cut = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, '');
      let event = 'message';
      const data = [];
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith(':')) continue;
        const [, field, rest] = /^([^:]*):? ?(.*)$/.exec(line) ?? [];
        if (field === 'event') event = rest;
        else if (field === 'data') data.push(rest);
      }
      if (!data.length) continue;
      const payload = JSON.parse(data.join('\n'));
      if (event === 'status') {
        bot.dataset.status = payload.status;
        if (payload.status === 'failed') {
          // The retry streams its reply from the start.
          streamed = '';
          setText(bot, `retrying (attempt ${payload.attempts})…`);
        }
        else if (payload.status === 'dead') fail(bot, payload.error ?? 'the message could not be answered');
      } else if (event === 'token') {
        streamed += payload.delta;
        bot.dataset.state = 'streaming';
        setText(bot, streamed);
      } else if (event === 'reply') {
        bot.dataset.state = 'done';
        setText(bot, payload.text);
      } else if (event === 'end') {
        await reader.cancel();
        return;
      }
    }
  }
}

async function send(text) {
  const me = bubble('me', text);
  const bot = bubble('bot', '…');
  bot.dataset.state = 'waiting';
  try {
    const res = await api('/v1/messages', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text, conversationId: conversationId(), channel: 'web' }),
    });
    if (res.status === 429) throw new Error(`the bot is busy (queue full); try again in ${res.headers.get('retry-after') ?? 'a few'} s`);
    if (!res.ok) throw new Error(await errorText(res));
    const { id } = await res.json();
    me.dataset.id = id;
    bot.dataset.id = id;
    await follow(id, bot);
    const view = await api(`/v1/messages/${encodeURIComponent(id)}`);
    if (!view.ok) throw new Error(await errorText(view));
    showMessage(await view.json(), me, bot);
  } catch (err) {
    fail(bot, err instanceof AuthError ? 'sign in first' : err.message);
  }
}

$('#chat-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = $('#chat-input');
  const text = input.value.trim();
  if (!text) return;
  input.value = '';
  void send(text);
});

$('#chat-new').addEventListener('click', () => {
  sessionStorage.removeItem(CONVERSATION_KEY);
  chatLog.replaceChildren();
  $('#chat-input').focus();
});

/** After a reload, show the conversation this tab was having. */
async function restoreConversation() {
  const id = sessionStorage.getItem(CONVERSATION_KEY);
  if (!id || chatLog.childElementCount) return;
  try {
    const res = await api(`/v1/conversations/${encodeURIComponent(id)}?limit=100`);
    if (!res.ok) return;
    for (const view of (await res.json()).messages) {
      const me = bubble('me', view.text);
      const bot = bubble('bot', '');
      showMessage(view, me, bot);
    }
  } catch {
    // nothing to restore
  }
}

void poll();
void restoreConversation();
