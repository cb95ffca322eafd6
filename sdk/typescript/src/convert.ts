import type { InboxFieldsFragment, MessageFieldsFragment, WebhookFieldsFragment } from "./generated/graphql.js";

// The wire carries DateTime as RFC 3339 strings; the generated types promise Dates, so every
// object the client returns goes through one of these first.

export type Inbox = InboxFieldsFragment & {
  /** An inbox token: read and delete access to this inbox only (from `createInbox`). */
  token: string | null;
};
export type Message = MessageFieldsFragment;
/** An endpoint that receives the tenant's events, signed (see docs/webhooks.md). */
export type Webhook = WebhookFieldsFragment;

export function inboxFromWire(inbox: WireOf<InboxFieldsFragment>, token: string | null = null): Inbox {
  return {
    ...inbox,
    createdAt: new Date(inbox.createdAt),
    expiresAt: new Date(inbox.expiresAt),
    token,
  };
}

export function messageFromWire(message: WireOf<MessageFieldsFragment>): Message {
  return {
    ...message,
    date: message.date === null ? null : new Date(message.date),
    receivedAt: new Date(message.receivedAt),
  };
}

export function webhookFromWire(webhook: WireOf<WebhookFieldsFragment>): Webhook {
  return {
    ...webhook,
    createdAt: new Date(webhook.createdAt),
    failingSince: webhook.failingSince === null ? null : new Date(webhook.failingSince),
  };
}

/** The wire form of a response the generated types describe with Dates. */
export type WireOf<T> = T extends Date
  ? string
  : T extends Array<infer Item>
    ? Array<WireOf<Item>>
    : T extends object
      ? { [K in keyof T]: WireOf<T[K]> }
      : T;
