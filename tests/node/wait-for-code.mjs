// Usage: EPHEMAIL_API_KEY=ek_... node wait-for-code.mjs http://127.0.0.1:8080
// Subscribes to a fresh address on the catch-all domain `localhost` with the public graphql-ws
// client, prints the address ("address <addr>"), then prints the verification code of the first
// mail that arrives ("code <code>") and exits. This is what a test author's sign-up test does.
import { randomUUID } from 'node:crypto';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const base = process.argv[2] ?? 'http://127.0.0.1:8080';
const apiKey = process.env.EPHEMAIL_API_KEY;
// On a catch-all domain no inbox need be created: its first mail creates it.
const address = `signup-${randomUUID().slice(0, 8)}@localhost`;

const client = createClient({
  url: `${base.replace(/^http/, 'ws')}/graphql`,
  webSocketImpl: WebSocket,
  connectionParams: { apiKey },
});
const subscription = client.iterate({
  // Without `after`, the subscription starts with the recent mail no wait has returned, so a
  // mail that arrives before the server has registered the subscription is not missed.
  query: `subscription($address: String!) {
    messageReceived(address: $address) { subject codes } }`,
  variables: { address },
});
console.log(`address ${address}`);
for await (const result of subscription) {
  if (result.errors) throw new Error(JSON.stringify(result.errors));
  console.log(`code ${result.data.messageReceived.codes[0]}`);
  break;
}
await client.dispose();
