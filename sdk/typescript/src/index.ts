export { Ephemail, type EphemailOptions, type CreateInboxOptions, type CreateWebhookOptions, type InboxRef, type WaitOptions, type WaitForLinkOptions, type MessagesOptions } from "./client.js";
export type { Inbox, Message, Webhook } from "./convert.js";
export { EphemailError, type ErrorCode } from "./errors.js";
export type { SubscribeOptions } from "./subscribe.js";
export * as generated from "./generated/graphql.js";
