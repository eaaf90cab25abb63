/* global document, localStorage, fetch, crypto, TextDecoderStream, CSSStyleSheet */
/**
 * Pincer's web chat widget. A site adds
 *   <script src="https://bot.example/widget.js" data-account="default" async></script>
 * and its visitors get a chat button and panel. Plain browser JavaScript with no build step and
 * no dependencies; everything lives in a shadow root, so the site's CSS cannot reach it (nor
 * its CSS the site). The bot's replies are model output: they are rendered with textContent and
 * a tiny Markdown subset built node by node, never as HTML.
 */
(() => {
  'use strict';

  const script = document.currentScript ?? document.querySelector('script[src*="widget.js"][data-account]') ?? document.querySelector('script[src*="widget.js"]');
  if (!script || !script.src) return;
  const BOT = new URL(script.src).origin;
  const ACCOUNT = script.dataset.account || 'default';
  const API = `${BOT}/v1/webchat/${encodeURIComponent(ACCOUNT)}`;
  const STORE_KEY = `pincer-webchat:${BOT}:${ACCOUNT}`;
  const HOST_ID = `pincer-webchat-${ACCOUNT}`;
  if (document.getElementById(HOST_ID)) return;

  const CSS = `
:host { all: initial; position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; font: 15px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2330; }
*, *::before, *::after { box-sizing: border-box; }
[hidden] { display: none !important; }
.launcher { width: 56px; height: 56px; border-radius: 50%; border: 0; background: #2f5bea; color: #fff; cursor: pointer; box-shadow: 0 4px 14px rgba(0,0,0,.25); display: grid; place-items: center; }
.launcher:focus-visible, button:focus-visible, input:focus-visible { outline: 3px solid #ffbf47; outline-offset: 2px; }
.launcher svg { width: 28px; height: 28px; fill: currentColor; }
.panel { position: absolute; right: 0; bottom: 70px; width: min(370px, calc(100vw - 40px)); height: min(540px, calc(100vh - 110px)); background: #fff; border-radius: 12px; box-shadow: 0 8px 30px rgba(0,0,0,.25); display: flex; flex-direction: column; overflow: hidden; }
header { display: flex; align-items: center; justify-content: space-between; padding: 12px 14px; background: #2f5bea; color: #fff; }
h2 { margin: 0; font-size: 16px; font-weight: 600; }
.close { background: transparent; border: 0; color: inherit; font-size: 22px; line-height: 1; cursor: pointer; padding: 2px 6px; border-radius: 4px; }
.log { flex: 1; overflow-y: auto; list-style: none; margin: 0; padding: 12px; display: flex; flex-direction: column; gap: 8px; background: #f5f7fb; }
.log li { max-width: 85%; padding: 8px 11px; border-radius: 12px; white-space: normal; overflow-wrap: anywhere; }
.log li.me { align-self: flex-end; background: #2f5bea; color: #fff; white-space: pre-wrap; }
.log li.bot { align-self: flex-start; background: #fff; border: 1px solid #dde3ee; }
.log li.bot[data-state="waiting"] { color: #6b7385; }
.log li.bot[data-state="failed"] { border-color: #d8343f; color: #9b1c24; }
.log li p { margin: 0 0 6px; } .log li p:last-child { margin-bottom: 0; }
.log pre { margin: 6px 0; padding: 8px; background: #eef1f7; border-radius: 6px; overflow-x: auto; font: 13px/1.4 ui-monospace, Menlo, Consolas, monospace; white-space: pre; }
.log code { font: 13px ui-monospace, Menlo, Consolas, monospace; background: #eef1f7; padding: 0 3px; border-radius: 3px; }
.log a { color: #2f5bea; }
.notice { margin: 0; padding: 8px 12px; font-size: 13px; background: #fff4e5; color: #7a4b00; border-top: 1px solid #f0d9b5; }
.notice[data-kind="error"] { background: #fdecee; color: #9b1c24; border-color: #f3c2c6; }
form { display: flex; gap: 8px; padding: 10px; border-top: 1px solid #dde3ee; background: #fff; }
input { flex: 1; min-width: 0; font: inherit; padding: 8px 10px; border: 1px solid #c5cddc; border-radius: 8px; color: inherit; background: #fff; }
.send { font: inherit; padding: 8px 14px; border: 0; border-radius: 8px; background: #2f5bea; color: #fff; cursor: pointer; }
.send:disabled { background: #9aaee8; cursor: default; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
`;

  // ---- safe Markdown: paragraphs, line breaks, fenced code, `code`, **bold**, *italic*, [links](https://...)

  const INLINE = /(`[^`\n]+`)|(\*\*[^*\n]+\*\*|__[^_\n]+__)|(\*[^*\s][^*\n]*\*|_[^_\s][^_\n]*_)|\[([^\]\n]+)\]\(([^)\s]+)\)/;

  function safeHref(raw) {
    try {
      const url = new URL(raw);
      return url.protocol === 'https:' || url.protocol === 'http:' || url.protocol === 'mailto:' ? url.href : undefined;
    } catch {
      return undefined;
    }
  }

  function appendInline(parent, text) {
    let rest = text;
    while (rest) {
      const match = INLINE.exec(rest);
      if (!match) {
        parent.append(rest);
        return;
      }
      if (match.index > 0) parent.append(rest.slice(0, match.index));
      const [whole, code, bold, italic, label, href] = match;
      if (code) {
        const el = document.createElement('code');
        el.textContent = code.slice(1, -1);
        parent.append(el);
      } else if (bold) {
        const el = document.createElement('strong');
        el.textContent = bold.slice(2, -2);
        parent.append(el);
      } else if (italic) {
        const el = document.createElement('em');
        el.textContent = italic.slice(1, -1);
        parent.append(el);
      } else {
        const url = safeHref(href);
        if (url) {
          const a = document.createElement('a');
          a.href = url;
          a.textContent = label;
          a.target = '_blank';
          a.rel = 'noopener noreferrer nofollow';
          parent.append(a);
        } else {
          parent.append(whole);
        }
      }
      rest = rest.slice(match.index + whole.length);
    }
  }

  function appendParagraphs(parent, text) {
    for (const block of text.split(/\n{2,}/)) {
      if (!block.trim()) continue;
      const p = document.createElement('p');
      block.split('\n').forEach((line, i) => {
        if (i > 0) p.append(document.createElement('br'));
        appendInline(p, line);
      });
      parent.append(p);
    }
  }

  /** Replaces `el`'s content with `markdown` rendered; an unclosed fence (mid-stream) is code to the end. */
  function renderMarkdown(el, markdown) {
    el.replaceChildren();
    const parts = markdown.split(/^```[^\n]*$/m);
    parts.forEach((part, i) => {
      if (i % 2 === 1) {
        const pre = document.createElement('pre');
        const code = document.createElement('code');
        code.textContent = part.replace(/^\n/, '').replace(/\n$/, '');
        pre.append(code);
        el.append(pre);
      } else {
        appendParagraphs(el, part);
      }
    });
  }

  // ---- the page

  const host = document.createElement('div');
  host.id = HOST_ID;
  const root = host.attachShadow({ mode: 'open' });
  if (root.adoptedStyleSheets !== undefined && typeof CSSStyleSheet === 'function' && 'replaceSync' in CSSStyleSheet.prototype) {
    // A constructed sheet is not an inline <style>, which a site's CSP may forbid.
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    root.adoptedStyleSheets = [sheet];
  } else {
    const style = document.createElement('style');
    style.textContent = CSS;
    root.append(style);
  }

  const el = (tag, props = {}, children = []) => {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === 'text') node.textContent = value;
      else if (key in node && typeof value !== 'string') node[key] = value;
      else node.setAttribute(key, value);
    }
    node.append(...children);
    return node;
  };

  const launcher = el('button', { type: 'button', class: 'launcher', 'aria-label': 'Open chat', 'aria-expanded': 'false', 'aria-controls': 'pincer-panel' });
  const SVG = 'http://www.w3.org/2000/svg';
  const icon = document.createElementNS(SVG, 'svg');
  icon.setAttribute('viewBox', '0 0 24 24');
  icon.setAttribute('aria-hidden', 'true');
  const bubblePath = document.createElementNS(SVG, 'path');
  bubblePath.setAttribute('d', 'M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z');
  icon.append(bubblePath);
  launcher.append(icon);
  const title = el('h2', { id: 'pincer-title', text: 'Chat' });
  const close = el('button', { type: 'button', class: 'close', 'aria-label': 'Close chat', text: '×' });
  const log = el('ol', { class: 'log', role: 'log', 'aria-live': 'polite', 'aria-labelledby': 'pincer-title' });
  const notice = el('p', { class: 'notice', role: 'status', hidden: true });
  const input = el('input', { type: 'text', id: 'pincer-input', autocomplete: 'off', 'aria-label': 'Your message', placeholder: 'Write a message…', maxlength: '4000' });
  const send = el('button', { type: 'submit', class: 'send', text: 'Send' });
  const form = el('form', {}, [el('label', { class: 'sr', for: 'pincer-input', text: 'Your message' }), input, send]);
  const panel = el('section', { class: 'panel', id: 'pincer-panel', role: 'dialog', 'aria-labelledby': 'pincer-title', hidden: true }, [el('header', {}, [title, close]), log, notice, form]);
  panel.dataset.state = 'closed';
  root.append(panel, launcher);
  (document.body ?? document.documentElement).append(host);

  // ---- session

  let session;

  function stored() {
    try {
      return JSON.parse(localStorage.getItem(STORE_KEY) ?? 'null');
    } catch {
      return null;
    }
  }
  function store(value) {
    try {
      if (value) localStorage.setItem(STORE_KEY, JSON.stringify(value));
      else localStorage.removeItem(STORE_KEY);
    } catch {
      // No storage (a private window, say): the chat works for this page view.
    }
  }

  class ChatError extends Error {
    constructor(code, message, retryAfter) {
      super(message);
      this.code = code;
      this.retryAfter = retryAfter;
    }
  }

  async function failure(res) {
    let code = `HTTP_${res.status}`;
    let message = `the chat answered ${res.status}`;
    try {
      const body = await res.json();
      if (body?.error) ({ code, message } = body.error);
    } catch {
      // not JSON
    }
    const retry = Number(res.headers.get('retry-after'));
    return new ChatError(code, message, Number.isFinite(retry) && retry > 0 ? retry : undefined);
  }

  async function openSession() {
    const previous = stored();
    let res;
    try {
      res = await fetch(`${API}/sessions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(previous?.token ? { visitor: previous.token } : {}),
      });
    } catch {
      throw new ChatError('NETWORK', 'the chat cannot be reached right now');
    }
    if (!res.ok) throw await failure(res);
    session = await res.json();
    store({ token: session.token, conversationId: session.conversationId, title: session.title });
    named(session.title);
    return session;
  }

  function named(text) {
    title.textContent = text;
    launcher.setAttribute('aria-label', `Open chat: ${text}`);
  }
  // The launcher has its name before the first call: the title of the last session, if any.
  if (typeof stored()?.title === 'string') named(stored().title);

  /** A call with the session's token; an expired or unknown token gets one new session and a second try. */
  async function api(path, init = {}, retried = false) {
    if (!session) await openSession();
    let res;
    try {
      res = await fetch(`${API}${path}`, { ...init, headers: { ...(init.headers ?? {}), authorization: `Bearer ${session.token}` } });
    } catch {
      throw new ChatError('NETWORK', 'the chat cannot be reached right now');
    }
    if (res.status === 401 && !retried) {
      session = undefined;
      return api(path, init, true);
    }
    if (!res.ok) throw await failure(res);
    return res;
  }

  // ---- the conversation

  function bubble(who, text) {
    const li = el('li', { class: who });
    if (who === 'me') li.textContent = text;
    else renderMarkdown(li, text);
    log.append(li);
    log.scrollTop = log.scrollHeight;
    return li;
  }

  function show(li, state, text, markdown = true) {
    li.dataset.state = state;
    if (markdown) renderMarkdown(li, text);
    else li.textContent = text;
    log.scrollTop = log.scrollHeight;
  }

  function say(message, kind = 'info') {
    notice.hidden = !message;
    notice.dataset.kind = kind;
    notice.textContent = message ?? '';
  }

  function explain(err) {
    if (err.code === 'WEBCHAT_ORIGIN_REFUSED') return 'This chat is not available on this website.';
    if (err.code === 'WEBCHAT_RATE_LIMITED') return `You are sending messages too quickly. Please wait ${err.retryAfter ?? 'a few'} seconds.`;
    if (err.code === 'QUEUE_FULL') return `The bot is very busy. Please try again in ${err.retryAfter ?? 'a few'} seconds.`;
    if (err.code === 'WEBCHAT_DISABLED') return 'This chat is not switched on.';
    return `Something went wrong: ${err.message}`;
  }

  /** Reads the reply's server-sent events with fetch (EventSource cannot send Authorization). */
  async function follow(id, li) {
    const res = await api(`/messages/${encodeURIComponent(id)}/events`, { headers: { accept: 'text/event-stream' } });
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    let streamed = '';
    let tokens = 0;
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
        if (event === 'token') {
          streamed += payload.delta;
          li.dataset.tokens = String(++tokens);
          show(li, 'streaming', streamed);
        } else if (event === 'reply') {
          show(li, 'done', payload.text);
        } else if (event === 'status') {
          if (payload.status === 'failed') {
            // The retry streams its reply from the start.
            streamed = '';
            show(li, 'waiting', 'Retrying…', false);
          } else if (payload.status === 'dead') {
            show(li, 'failed', 'Sorry, this message could not be answered.', false);
          }
        } else if (event === 'end') {
          await reader.cancel();
          return;
        }
      }
    }
  }

  /** Follows until the reply is final; a dropped stream is resumed (its events start from the current state). */
  async function awaitReply(id, li) {
    for (let attempt = 0; attempt < 5; attempt++) {
      await follow(id, li);
      if (li.dataset.state === 'done' || li.dataset.state === 'failed') return;
    }
    show(li, 'failed', 'The reply did not arrive; reload the page to see it.', false);
  }

  function showRecord(message) {
    bubble('me', message.text).dataset.id = message.id;
    const li = bubble('bot', '');
    li.dataset.id = message.id;
    if (message.reply) show(li, 'done', message.reply.text);
    else if (message.status === 'dead') show(li, 'failed', 'Sorry, this message could not be answered.', false);
    else {
      show(li, 'waiting', '…', false);
      void awaitReply(message.id, li).catch((err) => show(li, 'failed', explain(err), false));
    }
  }

  async function load() {
    panel.dataset.state = 'loading';
    say('');
    try {
      const before = stored()?.conversationId;
      await openSession();
      log.replaceChildren();
      if (session.greeting) show(bubble('bot', ''), 'greeting', session.greeting);
      if (before && before !== session.conversationId) say('A new conversation was started (the previous session had expired).');
      const res = await api('/conversation');
      const { messages } = await res.json();
      for (const message of messages) showRecord(message);
      panel.dataset.state = 'ready';
    } catch (err) {
      const refused = err.code === 'WEBCHAT_ORIGIN_REFUSED' || err.code === 'WEBCHAT_DISABLED';
      panel.dataset.state = refused ? 'refused' : 'error';
      input.disabled = send.disabled = refused;
      say(explain(err), 'error');
    }
  }

  /** The visitor's time zone, so the bot's tools (current_time) answer in it; the server checks it. */
  function browserTimeZone() {
    try {
      const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
      return typeof zone === 'string' && zone.length > 0 && zone.length <= 64 ? { timeZone: zone } : {};
    } catch {
      return {};
    }
  }

  async function submit(text) {
    const me = bubble('me', text);
    const li = bubble('bot', '');
    show(li, 'waiting', '…', false);
    // One key per message: a POST retried after a lost answer is still one message.
    const key = crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`;
    const post = () => api('/messages', { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': key }, body: JSON.stringify({ text, ...browserTimeZone() }) });
    try {
      let res;
      try {
        res = await post();
      } catch (err) {
        if (err.code !== 'NETWORK') throw err;
        res = await post();
      }
      const { id } = await res.json();
      me.dataset.id = id;
      li.dataset.id = id;
      say('');
      await awaitReply(id, li);
    } catch (err) {
      show(li, 'failed', explain(err), false);
      say(explain(err), 'error');
    }
  }

  // ---- controls

  function setOpen(open) {
    panel.hidden = !open;
    launcher.setAttribute('aria-expanded', String(open));
    if (open) {
      // Loaded once per page; a failed load (the bot was unreachable) is tried again on the next open.
      if (panel.dataset.state === 'closed' || panel.dataset.state === 'error') void load();
      input.focus();
    } else {
      launcher.focus();
    }
  }

  launcher.addEventListener('click', () => setOpen(panel.hidden));
  close.addEventListener('click', () => setOpen(false));
  panel.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') setOpen(false);
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text || panel.dataset.state !== 'ready') return;
    input.value = '';
    void submit(text);
  });
})();
