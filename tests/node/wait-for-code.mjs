// Usage: EPHEMAIL_API_KEY=ek_... node wait-for-code.mjs http://127.0.0.1:8080
// Creates an inbox, subscribes to it with the public graphql-ws client, prints the inbox address
// ("address <addr>"), then prints the verification code of the first mail that arrives
// ("code <code>") and exits. This is what a test author's sign-up test does.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const base = process.argv[2] ?? 'http://127.0.0.1:8080';
const apiKey = process.env.EPHEMAIL_API_KEY;

const created = await fetch(`${base}/graphql`, {
  method: 'POST',
  headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
  body: JSON.stringify({
    query: `mutation { createInbox(input: { domain: "localhost" }) {
      status inbox { address latestCursor } } }`,
  }),
}).then((response) => response.json());
const { address, latestCursor } = created.data.createInbox.inbox;

const client = createClient({
  url: `${base.replace(/^http/, 'ws')}/graphql`,
  webSocketImpl: WebSocket,
  connectionParams: { apiKey },
});
const subscription = client.iterate({
  // `after: latestCursor` makes the subscription see every mail stored from this point on,
  // even one that arrives before the server has registered the subscription.
  query: `subscription($address: String!, $after: String) {
    messageReceived(address: $address, after: $after) { subject codes } }`,
  variables: { address, after: latestCursor },
});
console.log(`address ${address}`);
for await (const result of subscription) {
  if (result.errors) throw new Error(JSON.stringify(result.errors));
  console.log(`code ${result.data.messageReceived.codes[0]}`);
  break;
}
await client.dispose();
