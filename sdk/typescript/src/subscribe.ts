import { type Client, createClient } from "graphql-ws";
import { print } from "graphql";

import type { Ephemail } from "./client.js";
import { type Message, messageFromWire } from "./convert.js";
import { EphemailError } from "./errors.js";
import { InboxDocument, type MessageFilter, MessageReceivedDocument } from "./generated/graphql.js";

export type SubscribeOptions = ({ inboxId: string; address?: undefined } | { address: string; inboxId?: undefined }) & {
  /** A message's or inbox's cursor: replay what was stored after it first. */
  after?: string;
  filter?: MessageFilter;
  /** Consecutive failed reconnects before giving up (default 8). */
  maxReconnects?: number;
};

const MAX_BACKOFF_MS = 5_000;

/** Close codes that a retry cannot fix: the credential or the request itself was refused. */
const FATAL_CLOSE_CODES: Record<number, "UNAUTHENTICATED" | "FORBIDDEN" | "BAD_USER_INPUT"> = {
  4400: "BAD_USER_INPUT",
  4401: "UNAUTHENTICATED",
  4403: "FORBIDDEN",
};

async function loadWebSocket(client: Ephemail): Promise<unknown> {
  if (client.webSocket) {
    return client.webSocket;
  }
  const global = (globalThis as { WebSocket?: unknown }).WebSocket;
  if (global) {
    return global;
  }
  // Node before 22 has no WebSocket; browsers never get here (package.json maps `ws` away).
  return (await import("ws")).default;
}

/** Where to start: the caller's cursor, the client's, or the inbox's newest message (if it exists). */
async function startCursor(client: Ephemail, options: SubscribeOptions): Promise<string | undefined> {
  const known = options.after ?? client.knownCursor(options);
  if (known !== undefined) {
    return known;
  }
  try {
    const { inbox } = await client.request(InboxDocument, { id: options.inboxId, address: options.address });
    return inbox?.latestCursor;
  } catch (error) {
    // A catch-all address before its first mail: the server starts with the next one.
    if (error instanceof EphemailError && error.code === "NOT_FOUND" && options.address !== undefined) {
      return undefined;
    }
    throw error;
  }
}

function closeCode(reason: unknown): number | undefined {
  const code = (reason as { code?: unknown } | null)?.code;
  return typeof code === "number" ? code : undefined;
}

export async function* subscribeToMessages(client: Ephemail, options: SubscribeOptions): AsyncGenerator<Message> {
  const webSocketImpl = await loadWebSocket(client);
  const query = print(MessageReceivedDocument);
  const maxReconnects = options.maxReconnects ?? 8;
  let after = await startCursor(client, options);
  let failures = 0;
  for (;;) {
    const connection: Client = createClient({
      url: `${client.url.replace(/^http/, "ws")}/graphql`,
      connectionParams: client.apiKey ? { apiKey: client.apiKey } : {},
      webSocketImpl,
      // Reconnecting is done here, so that the new subscription starts after the last cursor.
      retryAttempts: 0,
      lazy: true,
    });
    try {
      const variables = { inboxId: options.inboxId, address: options.address, after, filter: options.filter };
      for await (const result of connection.iterate<WireMessageReceived>({ query, variables })) {
        if (result.errors?.length) {
          throw EphemailError.fromGraphQL(result.errors[0] as { message?: string; extensions?: Record<string, unknown> });
        }
        const message = result.data?.messageReceived;
        if (message) {
          failures = 0;
          after = message.cursor;
          yield messageFromWire(message);
        }
      }
      return;
    } catch (reason) {
      if (reason instanceof EphemailError) {
        throw reason;
      }
      if (Array.isArray(reason)) {
        throw EphemailError.fromGraphQL(reason[0]);
      }
      const code = closeCode(reason);
      if (code !== undefined && code in FATAL_CLOSE_CODES) {
        throw new EphemailError(FATAL_CLOSE_CODES[code], `subscription refused (close ${code})`);
      }
      failures += 1;
      if (failures > maxReconnects) {
        throw new EphemailError("INTERNAL", `subscription lost after ${maxReconnects} reconnects: ${String(reason)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(250 * 2 ** (failures - 1), MAX_BACKOFF_MS)));
    } finally {
      await connection.dispose();
    }
  }
}

type WireMessageReceived = { messageReceived: Parameters<typeof messageFromWire>[0] };
