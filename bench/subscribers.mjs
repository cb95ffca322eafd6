// bench/subscribers.mjs: many GraphQL subscribers, one WebSocket connection each, for
// bench/subscriptions. With the public graphql-ws client (tests/node), every address in
// ADDRESSES (a file, one a line) gets a connection of its own (graphql-transport-ws, the API key
// in `connection_init`) running one `messageReceived(address:)` subscription.
//
//   EPHEMAIL_API_KEY=ek_... node bench/subscribers.mjs WS_URL ADDRESSES EVENTS [--pause]
//
// Prints `connected N` once every connection is acknowledged; with --pause it then waits for a
// line on stdin before subscribing. Prints `subscribed N` once every subscription was sent (the
// protocol does not acknowledge them), then runs until SIGTERM. Every event is appended to the
// file EVENTS as `address<TAB>subject<TAB>arrival`, the arrival in nanoseconds of
// CLOCK_MONOTONIC (process.hrtime), the clock Python's time.monotonic_ns() reads, so that
// bench/smtp-probe.py's `250` times compare with it. Errors go to stderr and make it exit 1.
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { createRequire } from 'node:module';

// The packages live in tests/node (npm ci --prefix tests/node).
const require = createRequire(new URL('../tests/node/package.json', import.meta.url));
const { createClient } = require('graphql-ws');
const WebSocket = require('ws');

const [url, addressFile, eventFile, ...flags] = process.argv.slice(2);
const apiKey = process.env.EPHEMAIL_API_KEY;
const fields = process.env.FIELDS ?? 'id cursor subject';
// Connections being opened at once: enough to be quick, few enough for the listen backlog.
const OPENING = 200;
const addresses = readFileSync(addressFile, 'utf8').split('\n').filter(Boolean);
writeFileSync(eventFile, '');

let pending = [];
const flush = () => {
  if (pending.length) {
    appendFileSync(eventFile, pending.join(''));
    pending = [];
  }
};
setInterval(flush, 50);
const fail = (what, error) => {
  flush();
  console.error(`${what}: ${error instanceof Error ? error.message : JSON.stringify(error)}`);
  process.exit(1);
};
process.on('SIGTERM', () => {
  flush();
  process.exit(0);
});

const clients = [];
async function connect(address) {
  const client = createClient({
    url,
    webSocketImpl: WebSocket,
    connectionParams: { apiKey },
    lazy: false,
    retryAttempts: 0,
    onNonLazyError: (error) => fail(`connecting for ${address}`, error),
  });
  await new Promise((resolve) => {
    const off = client.on('connected', () => {
      off();
      resolve();
    });
  });
  client.on('closed', (event) => fail(`connection of ${address} closed`, event?.reason ?? event));
  clients.push([address, client]);
}

let next = 0;
await Promise.all(
  Array.from({ length: Math.min(OPENING, addresses.length) }, async () => {
    while (next < addresses.length) {
      await connect(addresses[next++]);
    }
  }),
);
console.log(`connected ${clients.length}`);
if (flags.includes('--pause')) {
  const lines = createInterface({ input: process.stdin });
  await new Promise((resolve) => lines.once('line', resolve));
  lines.close();
}
const query = `subscription($address: String!) { messageReceived(address: $address) { ${fields} } }`;
for (const [address, client] of clients) {
  client.subscribe(
    { query, variables: { address } },
    {
      next: (result) => {
        const arrival = process.hrtime.bigint();
        if (result.errors) fail(`subscription of ${address}`, result.errors);
        const subject = result.data.messageReceived.subject ?? '';
        pending.push(`${address}\t${subject}\t${arrival}\n`);
      },
      error: (error) => fail(`subscription of ${address}`, error),
      complete: () => fail(`subscription of ${address}`, 'completed'),
    },
  );
}
console.log(`subscribed ${clients.length}`);
