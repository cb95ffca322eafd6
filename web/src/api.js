// ephemail's public GraphQL API, as any client uses it: POST /graphql with the credential as
// `Authorization: Bearer`, and the `messageReceived` subscription over graphql-ws.
import { createClient } from 'graphql-ws';

export class ApiError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

/** Runs one operation; its `data`, or throws an ApiError with the first error's code. */
export async function graphql(credential, query, variables = {}) {
  const headers = { 'content-type': 'application/json' };
  if (credential) headers.authorization = `Bearer ${credential}`;
  const response = await fetch('/graphql', { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  const body = await response.json().catch(() => ({}));
  const error = body.errors?.[0];
  if (error || !response.ok) {
    throw new ApiError(error?.message ?? `HTTP ${response.status}`, error?.extensions?.code ?? 'INTERNAL');
  }
  return body.data;
}

export const MESSAGE_SUMMARY = `id cursor subject seen receivedAt codes from { name address }`;

const RECEIVED = `subscription ($inboxId: ID!, $after: String) {
  messageReceived(inboxId: $inboxId, after: $after) { ${MESSAGE_SUMMARY} }
}`;

/**
 * Follows an inbox's new messages from `cursor` on. The server replays what was stored after
 * the cursor and then goes live, so after a dropped connection a new subscription from the
 * last cursor received misses nothing and repeats nothing. Calls `onState('live' | 'offline' |
 * 'gone')`; returns a function that stops.
 */
export function follow({ credential, inboxId, cursor, onMessage, onState }) {
  let client;
  let timer;
  let failures = 0;
  let stopped = false;
  const url = new URL('/graphql', location.href).href.replace(/^http/, 'ws');

  // Drops the current connection; its late events are ignored (see `current`).
  const drop = () => {
    const old = client;
    client = undefined;
    old?.dispose();
  };
  const reconnect = () => {
    if (stopped || timer) return;
    timer = setTimeout(start, Math.min(1000 * 2 ** failures++, 15000));
    drop();
    onState('offline');
  };
  const online = () => {
    clearTimeout(timer);
    drop();
    start();
  };

  function start() {
    timer = undefined;
    // One connection per subscription attempt: graphql-ws's own retry would resubscribe with
    // the first cursor, so reconnecting is done here, from the latest one.
    const current = () => client === mine && !stopped;
    const mine = createClient({
      url,
      lazy: true,
      retryAttempts: 0,
      keepAlive: 10000,
      connectionParams: { Authorization: `Bearer ${credential}` },
      on: {
        connected: () => {
          if (!current()) return;
          failures = 0;
          onState('live');
        },
      },
    });
    client = mine;
    mine.subscribe(
      { query: RECEIVED, variables: { inboxId, after: cursor } },
      {
        next: ({ data }) => {
          if (!data || !current()) return;
          cursor = data.messageReceived.cursor;
          onMessage(data.messageReceived);
        },
        error: (error) => {
          if (!current()) return;
          // GraphQL errors come as a list: NOT_FOUND means the inbox is gone (deleted, expired).
          if (Array.isArray(error) && error.some((e) => e.extensions?.code === 'NOT_FOUND')) {
            stopped = true;
            onState('gone');
          } else {
            reconnect();
          }
        },
        complete: () => {
          if (current()) reconnect();
        },
      },
    );
  }

  addEventListener('online', online);
  start();
  return () => {
    stopped = true;
    clearTimeout(timer);
    removeEventListener('online', online);
    drop();
  };
}
