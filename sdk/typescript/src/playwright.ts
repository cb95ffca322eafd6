import { test as base } from "@playwright/test";

import { Ephemail } from "./client.js";
import type { Inbox } from "./convert.js";

export type EphemailFixtures = {
  /** A client from `EPHEMAIL_URL` / `EPHEMAIL_API_KEY`. */
  mail: Ephemail;
  /** A fresh inbox, deleted after the test. */
  inbox: Inbox;
};

/** Playwright's `test` with `mail` and `inbox` fixtures. */
export const test = base.extend<EphemailFixtures>({
  mail: async ({}, use) => {
    await use(new Ephemail());
  },
  inbox: async ({ mail }, use) => {
    await mail.withInbox((inbox) => use(inbox));
  },
});

export { expect } from "@playwright/test";
