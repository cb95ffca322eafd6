import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createServer } from "node:http";
import { parse } from "graphql";

import { Ephemail, EphemailError } from "../dist/index.js";
import { EphemailServer } from "./server.mjs";

let server;
let mail;

before(async () => {
  // Private targets allowed: the webhook test's receiver is on 127.0.0.1.
  server = await EphemailServer.start(["--webhook-allow-private"]);
  mail = new Ephemail({ url: server.url, apiKey: server.apiKey });
});
after(() => server.stop());

const later = (ms, fn) => new Promise((resolve, reject) => setTimeout(() => fn().then(resolve, reject), ms));

async function rejectsWith(promise, code) {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof EphemailError, `not an EphemailError: ${error}`);
    assert.equal(error.code, code, error.message);
    return true;
  });
}

test("createInbox defaults to the first served domain and returns a token", async () => {
  const inbox = await mail.createInbox({ ttlSeconds: 600, tags: ["signup"] });
  assert.match(inbox.address, /@localhost$/);
  assert.ok(inbox.token);
  assert.ok(inbox.expiresAt instanceof Date);
  assert.ok(inbox.expiresAt.getTime() - Date.now() > 590_000);
  assert.deepEqual(inbox.tags, ["signup"]);
  const extended = await mail.extendInbox({ id: inbox.id, ttlSeconds: 1200 });
  assert.ok(extended.expiresAt > inbox.expiresAt);
  assert.ok(extended.token, "a fresh token, valid until the new expiry");
  await mail.deleteInbox(inbox.id);
  await rejectsWith(mail.deleteInbox(inbox.id), "NOT_FOUND");
});

test("a wait started before the mail arrives returns it, with its code and link", async () => {
  const inbox = await mail.createInbox({ domain: "localhost", ttlSeconds: 600 });
  const waiting = mail.waitForMessage({ inboxId: inbox.id, timeoutMs: 30000 });
  await later(300, () => server.send({ to: inbox.address, subject: "Verify your email",
    text: "Your verification code is 482 913.\nOr open https://app.example/verify?t=abc\nhttps://app.example/help" }));
  const message = await waiting;
  assert.equal(message.subject, "Verify your email");
  assert.deepEqual(message.codes.slice(0, 1), ["482913"]);
  assert.ok(message.receivedAt instanceof Date);

  const code = mail.waitForCode({ inboxId: inbox.id, timeoutMs: 30000 });
  await later(300, () => server.send({ to: inbox.address, subject: "Your code", text: "Your code: 4 8 2 9 1 3" }));
  assert.equal(await code, "482913");

  const link = mail.waitForLink({ address: inbox.address, match: /verify/, timeoutMs: 30000 });
  await later(300, () => server.send({ to: inbox.address, subject: "Links",
    text: "Help: https://app.example/help\nConfirm: https://app.example/verify?t=xyz" }));
  assert.equal(await link, "https://app.example/verify?t=xyz");
});

test("two waits in a row return two different mails, in order", async () => {
  await mail.withInbox(async (inbox) => {
    await server.send({ to: inbox.address, subject: "first" });
    await server.send({ to: inbox.address, subject: "second" });
    const first = await mail.waitForMessage({ inboxId: inbox.id });
    const second = await mail.waitForMessage({ inboxId: inbox.id });
    assert.deepEqual([first.subject, second.subject], ["first", "second"]);
    await rejectsWith(mail.waitForMessage({ inboxId: inbox.id, timeoutMs: 300 }), "TIMEOUT");
  });
});

test("withInbox deletes the inbox afterwards", async () => {
  const inbox = await mail.withInbox(async (inbox) => inbox);
  await rejectsWith(mail.deleteInbox(inbox.id), "NOT_FOUND");
});

test("messages pages through every message, newest first", async () => {
  const inbox = await mail.createInbox();
  for (let index = 0; index < 5; index++) {
    await server.send({ to: inbox.address, subject: `page mail ${index}` });
  }
  await mail.waitForMessage({ inboxId: inbox.id, filter: { subject: "page mail 4" } });
  const subjects = [];
  for await (const message of mail.messages({ inboxId: inbox.id, pageSize: 2 })) {
    subjects.push(message.subject);
  }
  assert.deepEqual(subjects, [4, 3, 2, 1, 0].map((index) => `page mail ${index}`));
});

test("raw returns the bytes sent, and attachment the decoded attachment", async () => {
  const inbox = await mail.createInbox();
  const sent = `From: a@example.com\r\nTo: ${inbox.address}\r\nSubject: raw\r\n\r\nbody line\r\n.dot line\r\n\u00e9 8bit\r\n`;
  await server.send({ to: inbox.address, raw: Buffer.from(sent, "utf8") });
  const message = await mail.waitForMessage({ inboxId: inbox.id });
  const raw = Buffer.from(await mail.raw(message.id));
  // The server puts its own `Received:` header in front of the bytes it received.
  assert.match(raw.toString("utf8"), /^Received: /);
  assert.ok(raw.subarray(raw.length - Buffer.byteLength(sent)).equals(Buffer.from(sent, "utf8")));

  const bytes = Buffer.from([0, 1, 2, 250, 251, 252, 13, 10]);
  await server.send({ to: inbox.address, subject: "file", attachments: [{ filename: "a.bin", content: bytes }] });
  const withFile = await mail.waitForMessage({ inboxId: inbox.id });
  assert.equal(withFile.attachments[0].filename, "a.bin");
  assert.ok(Buffer.from(await mail.attachment(withFile.attachments[0].id)).equals(bytes));
  await mail.deleteMessage(withFile.id);
  await rejectsWith(mail.message(withFile.id), "NOT_FOUND");
  await rejectsWith(mail.raw(withFile.id), "NOT_FOUND");
});

test("each error code", async () => {
  await rejectsWith(new Ephemail({ url: server.url, apiKey: "ek_wrong" }).createInbox({ domain: "localhost" }), "UNAUTHENTICATED");
  const inbox = await mail.createInbox();
  // An inbox token may read its own inbox but not create inboxes.
  const tokenClient = new Ephemail({ url: server.url, apiKey: inbox.token });
  await rejectsWith(tokenClient.createInbox({ domain: "localhost" }), "FORBIDDEN");
  await rejectsWith(mail.message("00000000-0000-4000-8000-000000000000"), "NOT_FOUND");
  await rejectsWith(mail.message("not-an-id"), "BAD_USER_INPUT");
  await mail.createInbox({ domain: "localhost", localPart: "taken" });
  await rejectsWith(mail.createInbox({ domain: "localhost", localPart: "taken" }), "BAD_USER_INPUT");
  await rejectsWith(mail.createInbox({ domain: "not-served.example" }), "BAD_USER_INPUT");
  await rejectsWith(mail.waitForMessage({ inboxId: inbox.id, timeoutMs: 200 }), "TIMEOUT");
  // Nothing listens on port 9: a transport failure is INTERNAL.
  await rejectsWith(new Ephemail({ url: "http://127.0.0.1:9", apiKey: "x" }).message(inbox.id), "INTERNAL");
  const viewer = parse("query { viewer { tenant { id } } }");
  assert.ok((await mail.request(viewer, {})).viewer.tenant.id);
});

test("a subscription cut by a server restart resumes with no loss and no duplicate", async () => {
  const inbox = await mail.createInbox();
  const stream = mail.subscribe({ inboxId: inbox.id });
  const received = [];
  let failed;
  const reading = (async () => {
    for await (const message of stream) {
      received.push(message.subject);
      if (received.length === 4) break;
    }
  })().catch((error) => {
    failed = error;
  });
  await server.send({ to: inbox.address, subject: "live 1" });
  await server.send({ to: inbox.address, subject: "live 2" });
  while (received.length < 2 && !failed) await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(failed, undefined);
  await server.restart();
  await server.send({ to: inbox.address, subject: "live 3" });
  await server.send({ to: inbox.address, subject: "live 4" });
  await reading;
  assert.equal(failed, undefined);
  assert.deepEqual(received, ["live 1", "live 2", "live 3", "live 4"]);
});

test("a webhook gets a test event and each new mail's codes, then is deleted", async () => {
  const deliveries = [];
  const receiver = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => { body += chunk; });
    request.on("end", () => {
      deliveries.push({ id: request.headers["webhook-id"], signature: request.headers["webhook-signature"], event: JSON.parse(body) });
      response.writeHead(204).end();
    });
  });
  await new Promise((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  const arrived = async (n) => {
    while (deliveries.length < n) await new Promise((resolve) => setTimeout(resolve, 50));
  };
  try {
    const inbox = await mail.createInbox();
    const url = `http://127.0.0.1:${receiver.address().port}/hook`;
    const { webhook, secret } = await mail.createWebhook({ url, inboxId: inbox.id });
    assert.match(secret, /^whsec_/);
    assert.deepEqual(webhook.events, ["MESSAGE_RECEIVED"]);
    assert.equal(webhook.inboxId, inbox.id);
    assert.ok(webhook.createdAt instanceof Date && webhook.enabled);
    assert.ok((await mail.webhooks()).some((listed) => listed.id === webhook.id));

    const id = await mail.testWebhook(webhook.id);
    await arrived(1);
    assert.equal(deliveries[0].id, id);
    assert.equal(deliveries[0].event.type, "webhook.test");
    assert.match(deliveries[0].signature, /^v1,/);
    await server.send({ to: inbox.address, subject: "Your code", text: "Your code is 482913" });
    await arrived(2);
    assert.equal(deliveries[1].event.type, "message.received");
    assert.deepEqual(deliveries[1].event.data.codes, ["482913"]);

    await mail.deleteWebhook(webhook.id);
    await rejectsWith(mail.deleteWebhook(webhook.id), "NOT_FOUND");
    await rejectsWith(mail.testWebhook(webhook.id), "NOT_FOUND");
    await rejectsWith(mail.createWebhook({ url, inboxId: "00000000-0000-4000-8000-000000000000" }), "NOT_FOUND");
  } finally {
    receiver.close();
  }
});
