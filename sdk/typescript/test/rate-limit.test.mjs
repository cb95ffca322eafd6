import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { Ephemail, EphemailError } from "../dist/index.js";
import { EphemailServer } from "./server.mjs";

let server;

// 120 requests a minute: a burst of 120, then one more every half second.
before(async () => {
  server = await EphemailServer.start(["--quota-requests-per-minute", "120"]);
});
after(() => server.stop());

test("HTTP 429 is retried after Retry-After; without retries it is QUOTA_EXCEEDED", async () => {
  const impatient = new Ephemail({ url: server.url, apiKey: server.apiKey, maxRetries: 0 });
  const inbox = await impatient.createInbox({ domain: "localhost" });
  let refused;
  for (let request = 0; request < 200 && !refused; request++) {
    refused = await impatient.extendInbox({ id: inbox.id, ttlSeconds: 600 }).then(() => undefined, (error) => error);
  }
  assert.ok(refused instanceof EphemailError);
  assert.equal(refused.code, "QUOTA_EXCEEDED");
  assert.ok(refused.retryAfter >= 1, `retryAfter ${refused.retryAfter}`);

  const patient = new Ephemail({ url: server.url, apiKey: server.apiKey });
  // Right after the refusal the bucket holds less than one request; three need a second and
  // a half of refill, so at least one of them is answered 429 first and retried.
  const started = Date.now();
  for (let request = 0; request < 3; request++) {
    assert.equal((await patient.extendInbox({ id: inbox.id, ttlSeconds: 600 })).id, inbox.id);
  }
  assert.ok(Date.now() - started >= 900, "the answers came only after waiting out Retry-After");
});
