// The web inbox: a temp-mail page for visitors (public mode) and a console for developers
// (API key or inbox token), on ephemail's public GraphQL API only.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { graphql } from './api.js';
import { html } from './html.js';
import { Inbox, INBOX_FIELDS } from './inbox.js';
import { initialLanguage, LANGUAGES, rememberLanguage, words } from './i18n.js';
import './style.css';

const VISITOR = 'ephemail.visitor';
const DEVELOPER = 'ephemail.developer';

const stored = (key) => {
  try {
    return JSON.parse(localStorage.getItem(key)) ?? undefined;
  } catch {
    return undefined;
  }
};
const store = (key, value) =>
  value === undefined ? localStorage.removeItem(key) : localStorage.setItem(key, JSON.stringify(value));

/** A new inbox on `domain`, at `localPart` or a random address; the `createInbox` payload. */
async function createInbox(credential, domain, localPart) {
  const data = await graphql(
    credential,
    `mutation ($input: CreateInboxInput!) { createInbox(input: $input) { status token inbox { ${INBOX_FIELDS} } } }`,
    { input: { domain, localPart: localPart || null } },
  );
  return data.createInbox;
}

function App() {
  const [language, setLanguage] = useState(initialLanguage);
  const [developer, setDeveloper] = useState(() => stored(DEVELOPER));
  const [server, setServer] = useState();
  const [failure, setFailure] = useState();
  const t = words(language);

  useEffect(() => {
    document.documentElement.lang = language;
    document.title = `ephemail · ${t.inbox}`;
  }, [language]);
  useEffect(() => {
    graphql(null, '{ viewer { publicInboxes } }')
      .then((data) => setServer(data.viewer))
      .catch(setFailure);
  }, []);

  const signIn = (credential) => {
    store(DEVELOPER, { credential });
    setDeveloper({ credential });
  };
  const signOut = () => {
    store(DEVELOPER, undefined);
    setDeveloper(undefined);
  };

  let body;
  if (failure) body = html`<${Failure} t=${t} error=${failure} />`;
  else if (developer) body = html`<${Developer} t=${t} language=${language} credential=${developer.credential} signIn=${signIn} signOut=${signOut} />`;
  else if (!server) body = html`<p class="muted" role="status">…</p>`;
  else if (server.publicInboxes) body = html`<${Visitor} t=${t} language=${language} />`;
  else body = html`<${SignIn} t=${t} intro=${t.notPublic} signIn=${signIn} />`;

  return html`
    <header class="bar">
      <a class="brand" href="/">ephemail</a>
      <label class="language">
        <span class="sr-only">${t.language}</span>
        <select value=${language} aria-label=${t.language} onChange=${(e) => {
          rememberLanguage(e.currentTarget.value);
          setLanguage(e.currentTarget.value);
        }}>
          ${Object.entries(LANGUAGES).map(([code, name]) => html`<option value=${code}>${name}</option>`)}
        </select>
      </label>
      <nav class="bar-actions" aria-label="ephemail">
        ${developer
          ? html`<button type="button" class="link" onClick=${signOut}>${server?.publicInboxes ? t.visitorMode : t.signOut}</button>`
          : server?.publicInboxes && html`<${DeveloperToggle} t=${t} signIn=${signIn} />`}
        <a class="link" href="/graphql">${t.graphiql}</a>
      </nav>
    </header>
    <main id="main">${body}</main>
  `;
}

function Failure({ t, error }) {
  return html`<div class="notice error" role="alert">
    <p><strong>${t.error}</strong>: ${error.message}</p>
    <button type="button" onClick=${() => location.reload()}>${t.retry}</button>
  </div>`;
}

/** A visitor's one inbox, created on the first visit; its token stays in the browser. */
function Visitor({ t, language }) {
  const [session, setSession] = useState();
  const [domains, setDomains] = useState([]);
  const [failure, setFailure] = useState();
  const [taken, setTaken] = useState(false);

  const create = async (domain, localPart) => {
    const { status, token, inbox } = await createInbox(null, domain, localPart);
    setTaken(status === 'ADDRESS_TAKEN');
    if (status !== 'CREATED') return;
    store(VISITOR, { token });
    setSession({ token, inbox });
  };

  useEffect(() => {
    (async () => {
      const served = (await graphql(null, '{ domains { name } }')).domains.map((d) => d.name);
      setDomains(served);
      const token = stored(VISITOR)?.token;
      if (token) {
        const found = await graphql(token, `{ viewer { inbox { ${INBOX_FIELDS} } } }`).catch(() => null);
        if (found?.viewer.inbox) return setSession({ token, inbox: found.viewer.inbox });
      }
      await create(served[0]);
    })().catch(setFailure);
  }, []);

  if (failure) return html`<${Failure} t=${t} error=${failure} />`;
  if (!session) return html`<p class="muted" role="status">…</p>`;
  const renewed = (inbox, token) => {
    store(VISITOR, { token: token ?? session.token });
    setSession({ token: token ?? session.token, inbox });
  };
  return html`
    <${Inbox}
      key=${session.inbox.id}
      t=${t}
      language=${language}
      label=${t.yourAddress}
      credential=${session.token}
      downloadToken=${session.token}
      inbox=${session.inbox}
      onRenewed=${renewed}
      onDeleted=${() => create(session.inbox.domain).catch(setFailure)}
    >
      <${NewAddress} t=${t} domains=${domains} current=${session.inbox.domain} taken=${taken}
        create=${(domain, local) => create(domain, local).catch(setFailure)} />
    <//>
  `;
}

/** New random address, or a chosen local part, on any served domain. */
function NewAddress({ t, domains, current, taken, create }) {
  const [picked, setDomain] = useState();
  const [local, setLocal] = useState('');
  const domain = picked ?? current ?? domains[0];
  const submit = (e) => {
    e.preventDefault();
    create(domain, local.trim());
  };
  return html`
    <div class="new-address">
      <button type="button" onClick=${() => create(domain)}>${t.newAddress}</button>
      <details open=${taken}>
        <summary>${t.customAddress}</summary>
        <form onSubmit=${submit}>
          <div class="field">
            <label for="local-part">${t.localPart}</label>
            <input id="local-part" value=${local} onInput=${(e) => setLocal(e.currentTarget.value)}
              autocomplete="off" spellcheck="false" required aria-invalid=${taken} />
          </div>
          <div class="field">
            <label for="domain">${t.domain}</label>
            <select id="domain" value=${domain} onChange=${(e) => setDomain(e.currentTarget.value)}>
              ${domains.map((name) => html`<option value=${name}>@${name}</option>`)}
            </select>
          </div>
          <button type="submit" class="primary">${t.create}</button>
        </form>
        ${taken && html`<p class="error" role="alert">${t.addressTaken}</p>`}
      </details>
    </div>
  `;
}

function DeveloperToggle({ t, signIn }) {
  const [open, setOpen] = useState(false);
  if (!open) return html`<button type="button" class="link" onClick=${() => setOpen(true)}>${t.developer}</button>`;
  return html`<div class="popover"><${SignIn} t=${t} signIn=${signIn} cancel=${() => setOpen(false)} /></div>`;
}

function SignIn({ t, intro, signIn, cancel }) {
  const [credential, setCredential] = useState('');
  const submit = (e) => {
    e.preventDefault();
    if (credential.trim()) signIn(credential.trim());
  };
  return html`
    <form class="sign-in card" onSubmit=${submit}>
      ${intro && html`<p>${intro}</p>`}
      <label for="credential">${t.credential}</label>
      <input id="credential" type="password" value=${credential} autocomplete="off"
        onInput=${(e) => setCredential(e.currentTarget.value)} aria-describedby="credential-help" />
      <p id="credential-help" class="muted small">${t.credentialHelp}</p>
      <div class="actions">
        <button type="submit" class="primary">${t.signIn}</button>
        ${cancel && html`<button type="button" onClick=${cancel}>✕</button>`}
      </div>
    </form>
  `;
}

/** With an API key: the tenant's inboxes, searchable, each opened as in visitor mode. With an
 * inbox token: that inbox. */
function Developer({ t, language, credential, signIn, signOut }) {
  const [viewer, setViewer] = useState();
  const [failure, setFailure] = useState();
  const [search, setSearch] = useState('');
  const [inboxes, setInboxes] = useState([]);
  const [domains, setDomains] = useState([]);
  const [open, setOpen] = useState();
  const [taken, setTaken] = useState(false);

  useEffect(() => {
    graphql(credential, `{ viewer { kind tenant { name } inbox { ${INBOX_FIELDS} } } }`)
      .then(async (data) => {
        setViewer(data.viewer);
        if (data.viewer.kind === 'INBOX_TOKEN') {
          setOpen({ inbox: data.viewer.inbox, downloadToken: credential });
        } else {
          setDomains((await graphql(credential, '{ domains { name } }')).domains.map((d) => d.name));
        }
      })
      .catch(setFailure);
  }, [credential]);

  const listed = async () => {
    const data = await graphql(credential, `query ($search: String) { inboxes(search: $search) { ${INBOX_FIELDS} } }`, { search });
    setInboxes(data.inboxes);
  };
  useEffect(() => {
    if (viewer?.kind !== 'API_KEY') return;
    const timer = setTimeout(() => listed().catch(setFailure), 200);
    return () => clearTimeout(timer);
  }, [viewer, search]);

  const choose = async (inbox) => {
    // Downloads (raw source, attachments) take a token in the URL: a fresh one for this inbox.
    const data = await graphql(credential, 'mutation ($id: ID!) { createInboxToken(inboxId: $id) { token } }', { id: inbox.id });
    setOpen({ inbox, downloadToken: data.createInboxToken.token });
  };
  const create = async (domain, localPart) => {
    const { status, token, inbox } = await createInbox(credential, domain, localPart);
    setTaken(status === 'ADDRESS_TAKEN');
    if (status !== 'CREATED') return;
    setOpen({ inbox, downloadToken: token });
    await listed();
  };

  if (failure) {
    return html`<div class="notice error" role="alert">
      <p><strong>${t.error}</strong>: ${failure.message}</p>
      <button type="button" onClick=${signOut}>${t.signOut}</button>
    </div>`;
  }
  if (!viewer) return html`<p class="muted" role="status">…</p>`;
  const panel = open && html`
    <${Inbox}
      key=${open.inbox.id}
      t=${t}
      language=${language}
      label=${t.address}
      credential=${credential}
      downloadToken=${open.downloadToken}
      inbox=${open.inbox}
      onRenewed=${(inbox, token) => {
        // Signed in with the inbox's token: keep the fresh one, valid until the new expiry.
        if (viewer.kind === 'INBOX_TOKEN' && token) signIn(token);
        else setOpen({ ...open, inbox, downloadToken: token ?? open.downloadToken });
      }}
      onDeleted=${() => {
        setOpen(undefined);
        if (viewer.kind === 'API_KEY') listed().catch(setFailure);
        else signOut();
      }}
    />`;
  if (viewer.kind !== 'API_KEY') return panel;
  return html`
    <div class="console">
      <section class="inboxes card" aria-labelledby="inboxes-title">
        <h2 id="inboxes-title">${t.inboxes} <span class="muted small">${viewer.tenant?.name}</span></h2>
        <input type="search" class="search" placeholder=${t.search} aria-label=${t.search} value=${search}
          onInput=${(e) => setSearch(e.currentTarget.value)} />
        <ul class="inbox-list">
          ${inboxes.map(
            (inbox) => html`<li>
              <button type="button" class=${open?.inbox.id === inbox.id ? 'selected' : ''}
                aria-current=${open?.inbox.id === inbox.id} onClick=${() => choose(inbox).catch(setFailure)}>
                ${inbox.address}
              </button>
            </li>`,
          )}
        </ul>
        ${inboxes.length === 0 && html`<p class="muted">${t.noInboxes}</p>`}
        <h3>${t.newInbox}</h3>
        <${NewAddress} t=${t} domains=${domains} current=${domains[0]} taken=${taken}
          create=${(domain, local) => create(domain, local).catch(setFailure)} />
      </section>
      <div class="console-inbox">${panel ?? html`<p class="muted card">${t.selectMessage}</p>`}</div>
    </div>
  `;
}

render(html`<${App} />`, document.getElementById('app'));
