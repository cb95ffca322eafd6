import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { print } from "graphql";

import { type Inbox, type Message, type Webhook, type WireOf, inboxFromWire, messageFromWire, webhookFromWire } from "./convert.js";
import { EphemailError } from "./errors.js";
import {
  CreateInboxDocument,
  CreateWebhookDocument,
  DeleteInboxDocument,
  DeleteMessageDocument,
  DeleteWebhookDocument,
  DomainsDocument,
  ExtendInboxDocument,
  type MessageFilter,
  MessageDocument,
  MessagesDocument,
  TestWebhookDocument,
  WaitForMessageDocument,
  type WebhookEvent,
  WebhooksDocument,
} from "./generated/graphql.js";
import { type SubscribeOptions, subscribeToMessages } from "./subscribe.js";

export interface EphemailOptions {
  /** The server's base URL (`http://127.0.0.1:8080`); defaults to `EPHEMAIL_URL`. */
  url?: string;
  /** An API key (`ek_...`) or an inbox token; defaults to `EPHEMAIL_API_KEY`. */
  apiKey?: string;
  /** How often a request answered with HTTP 429 is retried after its `Retry-After` (default 3). */
  maxRetries?: number;
  /** A WebSocket class for `subscribe` where there is no global one (Node before 22: `ws`). */
  webSocketImpl?: unknown;
}

export interface CreateInboxOptions {
  /** A served domain; the first one the server lists when omitted. */
  domain?: string;
  localPart?: string;
  ttlSeconds?: number;
  tags?: string[];
}

export interface CreateWebhookOptions {
  /** An http(s) URL reaching a public address (unless the server allows private ones). */
  url: string;
  /** `MESSAGE_RECEIVED` when omitted. */
  events?: WebhookEvent[];
  /** Only this inbox's events; every inbox of the tenant when omitted. */
  inboxId?: string;
}

/** Which inbox: by id, or by address (a catch-all address may be waited on before it exists). */
export type InboxRef = { inboxId: string; address?: undefined } | { address: string; inboxId?: undefined };

export type WaitOptions = InboxRef & {
  /** How long to wait (default 30000); the server caps it at its `--max-wait`. */
  timeoutMs?: number;
  filter?: MessageFilter;
  /** Only unseen messages count, and the one returned is marked seen. */
  markSeen?: boolean;
};

export type WaitForLinkOptions = WaitOptions & {
  /** The first link whose href matches; any link when omitted. */
  match?: RegExp | string;
};

export type MessagesOptions = { inboxId: string; filter?: MessageFilter; pageSize?: number };

const DEFAULT_TIMEOUT_MS = 30_000;

function environment(name: string): string | undefined {
  const process = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  return process?.env?.[name];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const printed = new WeakMap<object, string>();
function queryText(document: TypedDocumentNode<unknown, never>): string {
  let text = printed.get(document);
  if (text === undefined) {
    text = print(document);
    printed.set(document, text);
  }
  return text;
}

export class Ephemail {
  readonly url: string;
  readonly apiKey: string | undefined;
  private readonly maxRetries: number;
  private readonly webSocketImpl: unknown;
  /** Per inbox id or address: the cursor the next wait continues after. */
  private readonly cursors = new Map<string, string>();
  /** Addresses of the inboxes this client created, to share one cursor between id and address. */
  private readonly idsByAddress = new Map<string, string>();
  private defaultDomain: string | undefined;

  constructor(options: EphemailOptions = {}) {
    const url = options.url ?? environment("EPHEMAIL_URL");
    if (!url) {
      throw new EphemailError("BAD_USER_INPUT", "no server URL: pass `url` or set EPHEMAIL_URL");
    }
    this.url = url.replace(/\/+$/, "");
    this.apiKey = options.apiKey ?? environment("EPHEMAIL_API_KEY");
    this.maxRetries = options.maxRetries ?? 3;
    this.webSocketImpl = options.webSocketImpl;
  }

  /** Runs one generated operation; GraphQL errors become an {@link EphemailError}. */
  async request<Result, Variables>(
    document: TypedDocumentNode<Result, Variables>,
    variables: Variables,
  ): Promise<WireOf<Result>> {
    const response = await this.fetchWithRetry(`${this.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", ...this.authorization() },
      body: JSON.stringify({ query: queryText(document as TypedDocumentNode<unknown, never>), variables }),
    });
    let body: { data?: WireOf<Result> | null; errors?: Array<{ message?: string; extensions?: Record<string, unknown> }> };
    try {
      body = await response.json();
    } catch {
      throw EphemailError.fromStatus(response.status, "POST /graphql");
    }
    if (body.errors?.length) {
      throw EphemailError.fromGraphQL(body.errors[0]);
    }
    if (!response.ok || !body.data) {
      throw EphemailError.fromStatus(response.status, "POST /graphql");
    }
    return body.data;
  }

  private authorization(): Record<string, string> {
    return this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {};
  }

  /** `fetch`, retrying HTTP 429 after its `Retry-After` up to `maxRetries` times. */
  private async fetchWithRetry(url: string, init: RequestInit): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      const response = await fetch(url, init).catch((error: unknown) => {
        throw new EphemailError("INTERNAL", `request failed: ${String(error)}`);
      });
      if (response.status !== 429) {
        return response;
      }
      const retryAfter = Number(response.headers.get("retry-after") ?? "1");
      if (attempt >= this.maxRetries) {
        const body = await response.json().catch(() => undefined);
        const error = body?.errors?.[0];
        throw error ? EphemailError.fromGraphQL(error) : EphemailError.fromStatus(429, url, retryAfter);
      }
      await response.body?.cancel();
      await sleep(Math.max(retryAfter, 0) * 1000);
    }
  }

  /** Creates an inbox; any status but `CREATED` is an error carrying that `status`. */
  async createInbox(options: CreateInboxOptions = {}): Promise<Inbox> {
    const domain = options.domain ?? (await this.firstDomain());
    const { createInbox } = await this.request(CreateInboxDocument, {
      input: { domain, localPart: options.localPart, ttlSeconds: options.ttlSeconds, tags: options.tags ?? [] },
    });
    if (createInbox.status !== "CREATED" || !createInbox.inbox) {
      throw new EphemailError("BAD_USER_INPUT", `createInbox: ${createInbox.status}`, { status: createInbox.status });
    }
    const inbox = inboxFromWire(createInbox.inbox, createInbox.token);
    this.cursors.set(inbox.id, inbox.latestCursor);
    this.idsByAddress.set(inbox.address, inbox.id);
    return inbox;
  }

  private async firstDomain(): Promise<string> {
    if (this.defaultDomain === undefined) {
      const { domains } = await this.request(DomainsDocument, {});
      if (!domains.length) {
        throw new EphemailError("NOT_FOUND", "the server serves no domain this caller may use");
      }
      this.defaultDomain = domains[0].name;
    }
    return this.defaultDomain;
  }

  /** @internal The cursor the next wait on the inbox continues after, if the client holds one. */
  knownCursor(ref: InboxRef): string | undefined {
    return this.cursors.get(this.cursorKey(ref));
  }

  private cursorKey(ref: InboxRef): string {
    if (ref.inboxId !== undefined) {
      return ref.inboxId;
    }
    const address = ref.address.toLowerCase();
    return this.idsByAddress.get(address) ?? address;
  }

  /**
   * The next message after the inbox was created, or after the message this client's previous
   * wait on the inbox returned; without either, the server's default (the oldest recent message
   * no earlier wait returned). `TIMEOUT` when none arrives in time.
   */
  async waitForMessage(options: WaitOptions): Promise<Message> {
    const key = this.cursorKey(options);
    const { waitForMessage } = await this.request(WaitForMessageDocument, {
      inboxId: options.inboxId,
      address: options.address,
      after: this.cursors.get(key),
      filter: options.filter,
      markSeen: options.markSeen,
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    });
    if (!waitForMessage) {
      throw new EphemailError("TIMEOUT", "no message arrived in time");
    }
    this.cursors.set(key, waitForMessage.cursor);
    return messageFromWire(waitForMessage);
  }

  /** Waits for messages until one has a code, and returns its best code. */
  async waitForCode(options: WaitOptions): Promise<string> {
    const message = await this.waitForMatching(options, (candidate) => candidate.codes.length > 0);
    return message.codes[0];
  }

  /** Waits for messages until one has a link (matching `match`, if given), and returns its href. */
  async waitForLink(options: WaitForLinkOptions): Promise<string> {
    const { match, ...wait } = options;
    const pattern = typeof match === "string" ? new RegExp(match) : match;
    const matches = (href: string) => !pattern || pattern.test(href);
    const message = await this.waitForMatching(wait, (candidate) => candidate.links.some((link) => matches(link.href)));
    const link = message.links.find((candidate) => matches(candidate.href));
    return (link as { href: string }).href;
  }

  private async waitForMatching(options: WaitOptions, accept: (message: Message) => boolean): Promise<Message> {
    const deadline = Date.now() + (options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    for (;;) {
      const timeoutMs = Math.max(deadline - Date.now(), 1);
      const message = await this.waitForMessage({ ...options, timeoutMs });
      if (accept(message)) {
        return message;
      }
    }
  }

  /** Every matching message of the inbox, newest first, fetching page after page. */
  async *messages(options: MessagesOptions): AsyncGenerator<Message> {
    let after: string | undefined;
    for (;;) {
      const { messages } = await this.request(MessagesDocument, {
        inboxId: options.inboxId,
        filter: options.filter,
        first: options.pageSize ?? 50,
        after,
      });
      for (const message of messages.nodes) {
        yield messageFromWire(message);
      }
      if (!messages.pageInfo.hasNextPage || !messages.pageInfo.endCursor) {
        return;
      }
      after = messages.pageInfo.endCursor;
    }
  }

  async message(id: string): Promise<Message> {
    const { message } = await this.request(MessageDocument, { id });
    if (!message) {
      throw new EphemailError("NOT_FOUND", `no message ${id}`);
    }
    return messageFromWire(message);
  }

  /** The exact bytes the server received. */
  raw(messageId: string): Promise<Uint8Array> {
    return this.download(`/messages/${encodeURIComponent(messageId)}/raw`);
  }

  /** An attachment's decoded bytes. */
  attachment(attachmentId: string): Promise<Uint8Array> {
    return this.download(`/attachments/${encodeURIComponent(attachmentId)}`);
  }

  private async download(path: string): Promise<Uint8Array> {
    const response = await this.fetchWithRetry(`${this.url}${path}`, { headers: this.authorization() });
    if (!response.ok) {
      throw EphemailError.fromStatus(response.status, `GET ${path}`);
    }
    return new Uint8Array(await response.arrayBuffer());
  }

  /** Deletes an inbox with its messages; `NOT_FOUND` if there is none. */
  async deleteInbox(id: string): Promise<void> {
    const { deleteInbox } = await this.request(DeleteInboxDocument, { id });
    if (deleteInbox.status !== "DELETED") {
      throw new EphemailError("NOT_FOUND", `no inbox ${id}`, { status: deleteInbox.status });
    }
  }

  /** Deletes a message; `NOT_FOUND` if there is none. */
  async deleteMessage(id: string): Promise<void> {
    const { deleteMessage } = await this.request(DeleteMessageDocument, { id });
    if (deleteMessage.status !== "DELETED") {
      throw new EphemailError("NOT_FOUND", `no message ${id}`, { status: deleteMessage.status });
    }
  }

  /**
   * Has ephemail POST the tenant's events (or one inbox's) to `url`, signed as the Standard
   * Webhooks specification says: verify them with its `standardwebhooks` package and `secret`,
   * which is shown only now. Any status but `CREATED` is an error carrying that `status`.
   */
  async createWebhook(options: CreateWebhookOptions): Promise<{ webhook: Webhook; secret: string }> {
    const { createWebhook } = await this.request(CreateWebhookDocument, {
      input: { url: options.url, events: options.events ?? ["MESSAGE_RECEIVED"], inboxId: options.inboxId },
    });
    if (createWebhook.status !== "CREATED" || !createWebhook.webhook || !createWebhook.secret) {
      const code = createWebhook.status === "INBOX_NOT_FOUND" ? "NOT_FOUND" : "QUOTA_EXCEEDED";
      throw new EphemailError(code, `createWebhook: ${createWebhook.status}`, { status: createWebhook.status });
    }
    return { webhook: webhookFromWire(createWebhook.webhook), secret: createWebhook.secret };
  }

  /** The tenant's webhooks, oldest first. */
  async webhooks(): Promise<Webhook[]> {
    const { webhooks } = await this.request(WebhooksDocument, {});
    return webhooks.map(webhookFromWire);
  }

  /** Deletes a webhook with its deliveries; `NOT_FOUND` if there is none. */
  async deleteWebhook(id: string): Promise<void> {
    const { deleteWebhook } = await this.request(DeleteWebhookDocument, { id });
    if (deleteWebhook.status !== "DELETED") {
      throw new EphemailError("NOT_FOUND", `no webhook ${id}`, { status: deleteWebhook.status });
    }
  }

  /** Sends a `webhook.test` event to the webhook now; returns its `webhook-id`. */
  async testWebhook(id: string): Promise<string> {
    const { testWebhook } = await this.request(TestWebhookDocument, { id });
    if (testWebhook.status !== "DONE" || !testWebhook.deliveryId) {
      throw new EphemailError("NOT_FOUND", `no webhook ${id}`, { status: testWebhook.status });
    }
    return testWebhook.deliveryId;
  }

  /** Makes an inbox expire `ttlSeconds` from now; `token` is a fresh inbox token until then. */
  async extendInbox(options: { id: string; ttlSeconds: number }): Promise<Inbox> {
    const { extendInbox } = await this.request(ExtendInboxDocument, { input: options });
    if (extendInbox.status !== "EXTENDED" || !extendInbox.inbox) {
      const code = extendInbox.status === "NOT_FOUND" ? "NOT_FOUND" : "BAD_USER_INPUT";
      throw new EphemailError(code, `extendInbox: ${extendInbox.status}`, { status: extendInbox.status });
    }
    return inboxFromWire(extendInbox.inbox, extendInbox.token);
  }

  /**
   * Every message stored in the inbox after `after`, each exactly once, over a WebSocket that is
   * reopened with backoff when it drops, resuming after the last delivered one. Without `after`:
   * after the cursor the next wait would use (an inbox this client created: from its creation),
   * else from the moment of the call.
   */
  subscribe(options: SubscribeOptions): AsyncGenerator<Message> {
    return subscribeToMessages(this, options);
  }

  /** Runs `fn` with a fresh inbox and deletes the inbox afterwards, however `fn` ends. */
  async withInbox<T>(fn: (inbox: Inbox) => Promise<T> | T, options: CreateInboxOptions = {}): Promise<T> {
    const inbox = await this.createInbox(options);
    try {
      return await fn(inbox);
    } finally {
      await this.deleteInbox(inbox.id).catch((error: unknown) => {
        if (!(error instanceof EphemailError && error.code === "NOT_FOUND")) {
          throw error;
        }
      });
    }
  }

  /** @internal The WebSocket class `subscribe` uses. */
  get webSocket(): unknown {
    return this.webSocketImpl;
  }
}
