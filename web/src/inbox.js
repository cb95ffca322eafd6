// One inbox: its address and lifetime, the live list of its messages, and the reader.
import { useEffect, useState } from 'preact/hooks';
import { follow, graphql, MESSAGE_SUMMARY } from './api.js';
import { html } from './html.js';

export const INBOX_FIELDS = 'id address domain expiresAt';

const MESSAGE_DETAIL = `id subject seen receivedAt date codes rawUrl
  from { name address } to { name address }
  links { href text } text blocked: html(blockRemoteImages: true) html
  headers { name value } attachments { id filename contentType size url }`;

/** The current time, ticking every second. */
function useNow() {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  return now;
}

const pad = (n) => String(n).padStart(2, '0');

function Countdown({ t, expiresAt }) {
  const left = Math.max(0, Math.floor((Date.parse(expiresAt) - useNow()) / 1000));
  if (!left) return html`<span class="countdown expired">${t.expired}</span>`;
  const hours = Math.floor(left / 3600);
  const text = `${hours ? `${hours}:` : ''}${pad(Math.floor(left / 60) % 60)}:${pad(left % 60)}`;
  return html`<span class="countdown">${t.timeLeft} <time datetime=${`PT${left}S`}>${text}</time></span>`;
}

function copyBySelection(text) {
  const area = document.createElement('textarea');
  area.value = text;
  area.setAttribute('readonly', '');
  area.className = 'sr-only';
  document.body.append(area);
  area.select();
  document.execCommand('copy');
  area.remove();
}

export function CopyButton({ t, text, label, className = '' }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    // The Clipboard API needs a secure context (HTTPS or localhost); elsewhere, the old way.
    await navigator.clipboard?.writeText(text).catch(() => copyBySelection(text)) ?? copyBySelection(text);
    setCopied(true);
    setTimeout(() => setCopied(false), 1500);
  };
  return html`<button type="button" class=${`copy ${className}`} onClick=${copy} aria-label=${label}>
    ${copied ? t.copied : t.copy}<span class="sr-only" aria-live="polite">${copied ? t.copied : ''}</span>
  </button>`;
}

const when = (language, iso, short) => {
  const date = new Date(iso);
  const today = new Date().toDateString() === date.toDateString();
  const style = short && today ? { timeStyle: 'short' } : { dateStyle: 'medium', timeStyle: 'short' };
  return new Intl.DateTimeFormat(language, style).format(date);
};

const sender = (from) => from?.name || from?.address || '';

/** Adds what the server sent that is not listed yet, newest first. */
const merge = (list, arrived) => {
  const known = new Set(list.map((m) => m.id));
  const fresh = arrived.filter((m) => !known.has(m.id));
  return fresh.length ? [...fresh.reverse(), ...list] : list;
};

export function Inbox({ t, language, label, credential, downloadToken, inbox, onRenewed, onDeleted, children }) {
  const [messages, setMessages] = useState();
  const [connection, setConnection] = useState('offline');
  const [openId, setOpenId] = useState();
  const [failure, setFailure] = useState();
  const id = inbox.id;

  useEffect(() => {
    let stop = () => {};
    let cancelled = false;
    (async () => {
      // The cursor first: the subscription replays anything stored after it, so a mail that
      // lands while the list loads is listed once (by id), never missed.
      const { inbox: head } = await graphql(credential, 'query ($id: ID!) { inbox(id: $id) { latestCursor } }', { id });
      const page = await graphql(credential, `query ($id: ID!) { messages(inboxId: $id, first: 100) { nodes { ${MESSAGE_SUMMARY} } } }`, { id });
      if (cancelled) return;
      setMessages((list) => merge(list ?? [], [...page.messages.nodes].reverse()));
      stop = follow({
        credential,
        inboxId: id,
        cursor: head.latestCursor,
        onMessage: (message) => setMessages((list) => merge(list ?? [], [message])),
        onState: setConnection,
      });
    })().catch(setFailure);
    return () => {
      cancelled = true;
      stop();
    };
  }, [id, credential]);

  const act = (promise) => promise.catch(setFailure);
  const extend = async () => {
    const extendBy = async (ttlSeconds) =>
      (await graphql(
        credential,
        `mutation ($input: ExtendInboxInput!) { extendInbox(input: $input) { status maxTtlSeconds token inbox { ${INBOX_FIELDS} } } }`,
        { input: { id, ttlSeconds } },
      )).extendInbox;
    const left = Math.max(0, Math.floor((Date.parse(inbox.expiresAt) - Date.now()) / 1000));
    let result = await extendBy(left + 3600);
    if (result.status === 'TTL_TOO_LONG') result = await extendBy(result.maxTtlSeconds);
    if (result.status === 'EXTENDED') onRenewed(result.inbox, result.token ?? undefined);
  };
  const deleteInbox = async () => {
    if (!confirm(t.confirmDeleteInbox)) return;
    await graphql(credential, 'mutation ($id: ID!) { deleteInbox(id: $id) { status } }', { id });
    onDeleted();
  };
  const deleteAll = async () => {
    if (!confirm(t.confirmDeleteAll)) return;
    await graphql(credential, 'mutation ($id: ID!) { deleteMessages(inboxId: $id) { count } }', { id });
    setMessages([]);
    setOpenId(undefined);
  };
  const setSeen = (messageId, seen) =>
    setMessages((list) => list.map((m) => (m.id === messageId ? { ...m, seen } : m)));
  const removed = (messageId) => {
    setMessages((list) => list.filter((m) => m.id !== messageId));
    setOpenId(undefined);
  };

  const count = messages?.length ?? 0;
  return html`
    <section class="inbox-head card" aria-labelledby="address-label">
      <p id="address-label" class="label">${label}</p>
      <div class="address-row">
        <output class="address" id="address" aria-labelledby="address-label">${inbox.address}</output>
        <${CopyButton} t=${t} text=${inbox.address} label=${t.copyAddress} className="primary" />
      </div>
      <div class="inbox-meta">
        <${Countdown} t=${t} expiresAt=${inbox.expiresAt} />
        <button type="button" onClick=${() => act(extend())}>${t.extend}</button>
        <button type="button" class="danger" onClick=${() => act(deleteInbox())}>${t.deleteInbox}</button>
        <span class=${`connection ${connection}`} role="status">${connection === 'live' ? t.live : connection === 'gone' ? t.expired : t.offline}</span>
      </div>
      ${children}
    </section>
    ${failure && html`<div class="notice error" role="alert"><strong>${t.error}</strong>: ${failure.message}</div>`}
    <div class=${`mail ${openId ? 'reading' : ''}`}>
      <section class="messages card" aria-labelledby="messages-title">
        <div class="list-head">
          <h2 id="messages-title">${t.inbox} <span class="muted small count">${t.messages(count)}</span></h2>
          ${count > 0 && html`<button type="button" class="danger small" onClick=${() => act(deleteAll())}>${t.deleteAll}</button>`}
        </div>
        ${messages && count === 0 && html`<p class="muted empty">${t.noMessages}</p>`}
        <ul class="message-list">
          ${(messages ?? []).map(
            (m) => html`<li key=${m.id}>
              <button type="button" class=${`message-item${m.seen ? '' : ' unread'}${m.id === openId ? ' selected' : ''}`}
                aria-current=${m.id === openId} onClick=${() => setOpenId(m.id)}>
                <span class="from">${!m.seen && html`<span class="dot" title=${t.unread}><span class="sr-only">${t.unread}: </span></span>`}${sender(m.from)}</span>
                <time class="received" datetime=${m.receivedAt}>${when(language, m.receivedAt, true)}</time>
                <span class="subject">${m.subject || t.noSubject}</span>
                ${m.codes[0] && html`<span class="chip small-chip">${m.codes[0]}</span>`}
              </button>
            </li>`,
          )}
        </ul>
      </section>
      <section class="reader card" aria-label=${t.selectMessage}>
        ${openId
          ? html`<${Message} key=${openId} t=${t} language=${language} credential=${credential}
              downloadToken=${downloadToken} id=${openId} back=${() => setOpenId(undefined)}
              onSeen=${setSeen} onDeleted=${removed} onFailure=${setFailure} />`
          : html`<p class="muted">${t.selectMessage}</p>`}
      </section>
    </div>
  `;
}

// Only these open from the links list; anything else is shown as text.
const SAFE_LINK = /^(https?|mailto):/i;

const withToken = (url, token) => `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`;

const size = (language, bytes) =>
  bytes < 1024
    ? `${bytes} B`
    : `${new Intl.NumberFormat(language, { maximumFractionDigits: 1 }).format(bytes / (bytes < 1048576 ? 1024 : 1048576))} ${bytes < 1048576 ? 'KB' : 'MB'}`;

/** The document shown in the message frame. The frame is sandboxed without scripts and with
 * an opaque origin, so nothing in it can reach this page, its storage or the token; its own
 * policy allows remote images only once the reader asked for them. */
function frameDocument(body, remoteImages) {
  const images = remoteImages ? 'data: http: https:' : 'data:';
  const policy = `default-src 'none'; img-src ${images}; style-src 'unsafe-inline'; font-src data:`;
  return `<!doctype html><html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${policy}">
<meta name="referrer" content="no-referrer">
<style>body{margin:12px;font:15px/1.5 system-ui,sans-serif;color:#1a1a1a;background:#fff;overflow-wrap:anywhere}img{max-width:100%;height:auto}</style>
</head><body>${body}</body></html>`;
}

function Message({ t, language, credential, downloadToken, id, back, onSeen, onDeleted, onFailure }) {
  const [message, setMessage] = useState();
  const [view, setView] = useState('html');
  const [images, setImages] = useState(false);
  const act = (promise) => promise.catch(onFailure);

  const markSeen = async (seen) => {
    await graphql(credential, 'mutation ($ids: [ID!]!, $seen: Boolean!) { markSeen(ids: $ids, seen: $seen) { count } }', { ids: [id], seen });
    setMessage((m) => ({ ...m, seen }));
    onSeen(id, seen);
  };
  useEffect(() => {
    act(
      (async () => {
        const { message: found } = await graphql(credential, `query ($id: ID!) { message(id: $id) { ${MESSAGE_DETAIL} } }`, { id });
        setMessage(found);
        setView(found.html ? 'html' : 'text');
        if (!found.seen) await markSeen(true);
      })(),
    );
  }, [id]);
  const remove = async () => {
    await graphql(credential, 'mutation ($id: ID!) { deleteMessage(id: $id) { status } }', { id });
    onDeleted(id);
  };

  if (!message) return html`<p class="muted" role="status">…</p>`;
  const blocked = message.html !== message.blocked && !images;
  const views = [['html', t.html, message.html], ['text', t.text, message.text], ['headers', t.headers, true]].filter((v) => v[2]);
  const code = message.codes[0];
  return html`
    <article class="message" aria-labelledby="subject">
      <button type="button" class="back" onClick=${back}>← ${t.back}</button>
      <h2 id="subject" class="subject-line">${message.subject || t.noSubject}</h2>
      <dl class="envelope">
        <dt>${t.from}</dt><dd>${message.from ? `${message.from.name ? `${message.from.name} ` : ''}<${message.from.address}>` : ''}</dd>
        <dt>${t.to}</dt><dd>${message.to.map((m) => m.address).join(', ')}</dd>
        <dt>${t.date}</dt><dd><time datetime=${message.receivedAt}>${when(language, message.date ?? message.receivedAt)}</time></dd>
      </dl>
      ${code && html`<div class="code-row">
        <span class="label">${t.code}</span>
        <span class="chip code" id="code">${code}</span>
        <${CopyButton} t=${t} text=${code} label=${t.copyCode} />
      </div>`}
      <div class="message-actions">
        <button type="button" onClick=${() => act(markSeen(!message.seen))}>${message.seen ? t.markUnread : t.markRead}</button>
        <a class="button" href=${withToken(message.rawUrl, downloadToken)} download>${t.raw}</a>
        <button type="button" class="danger" onClick=${() => act(remove())}>${t.delete}</button>
      </div>
      <div class="views" role="group" aria-label=${t.html}>
        ${views.map(([name, label]) => html`<button type="button" aria-pressed=${view === name} onClick=${() => setView(name)}>${label}</button>`)}
      </div>
      ${view === 'html' && blocked && html`<p class="notice">${t.remoteImagesBlocked}
        <button type="button" onClick=${() => setImages(true)}>${t.showImages}</button></p>`}
      ${view === 'html' && html`<iframe class="body-frame" title=${message.subject || t.noSubject}
        sandbox="allow-popups allow-popups-to-escape-sandbox"
        srcdoc=${frameDocument(images ? message.html : message.blocked, images)}></iframe>`}
      ${view === 'text' && html`<pre class="body-text">${message.text}</pre>`}
      ${view === 'headers' && html`<table class="headers"><tbody>
        ${message.headers.map((field) => html`<tr><th scope="row">${field.name}</th><td>${field.value}</td></tr>`)}
      </tbody></table>`}
      ${message.attachments.length > 0 && html`<section aria-labelledby="attachments-title">
        <h3 id="attachments-title">${t.attachments}</h3>
        <ul class="attachments">${message.attachments.map(
          (a) => html`<li><a href=${withToken(a.url, downloadToken)} download>${a.filename || a.id}</a>
            <span class="muted small">${a.contentType}, ${size(language, a.size)}</span></li>`,
        )}</ul>
      </section>`}
      ${message.links.length > 0 && html`<section aria-labelledby="links-title">
        <h3 id="links-title">${t.links}</h3>
        <ul class="links">${message.links.map(
          (link) => html`<li>
            ${SAFE_LINK.test(link.href)
              ? html`<a href=${link.href} target="_blank" rel="noopener noreferrer">${link.text || link.href}</a>`
              : link.text || link.href}
            ${link.text && html`<span class="muted small url">${link.href}</span>`}</li>`,
        )}</ul>
      </section>`}
    </article>
  `;
}
