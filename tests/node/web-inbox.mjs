// Usage: node web-inbox.mjs SETUP.json
// The web inbox end to end, in headless Chromium against real servers: SETUP.json is
// {public: {url, smtp}, developer: {url, smtp, key}, screenshots?: DIR}, a server in public mode
// and one without, each with its SMTP address ("127.0.0.1:port"). Prints a JSON array of
// failures {scenario, reason} to stdout and exits 1 if there are any.
//
// The public server is reached through a TCP proxy in this process, so a test can cut the
// network (every connection dropped, new ones refused) and restore it. Any request that leaves
// the server's origin is aborted and reported (the pages must work offline and a mail must not
// fetch anything), and so is every Content-Security-Policy violation the page reports.
import { once } from 'node:events';
import { readFile, mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import net from 'node:net';
import { chromium } from 'playwright-core';

const setup = JSON.parse(await readFile(process.argv[2], 'utf8'));
const axeSource = await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const failures = [];
const log = (line) => console.error(`web-inbox: ${line}`);

/** A TCP proxy to `target` ("host:port") that can drop every connection and refuse new ones. */
async function proxy(target) {
  const [host, port] = [target.hostname, Number(target.port)];
  const open = new Set();
  let cut = false;
  const server = net.createServer((client) => {
    if (cut) return client.destroy();
    const upstream = net.connect(port, host);
    const pair = [client, upstream];
    pair.forEach((socket) => {
      // Frames pass at once, as on a direct connection (no Nagle delay for small writes).
      socket.setNoDelay(true);
      open.add(socket);
      socket.on('close', () => open.delete(socket));
      socket.on('error', () => pair.forEach((s) => s.destroy()));
    });
    client.pipe(upstream).pipe(client);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    cut: () => {
      cut = true;
      for (const socket of open) socket.destroy();
    },
    restore: () => {
      cut = false;
    },
    close: () => server.close(),
  };
}

/** Delivers `mail` (headers and body, CRLF line ends) to `to` over SMTP. */
async function sendMail(smtp, to, mail) {
  const [host, port] = smtp.split(':');
  const socket = net.connect(Number(port), host);
  socket.setEncoding('utf8');
  let buffer = '';
  const replies = [];
  let wake;
  socket.on('data', (chunk) => {
    buffer += chunk;
    let end;
    while ((end = buffer.indexOf('\r\n')) >= 0) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (line[3] !== '-') replies.push(line);
    }
    wake?.();
  });
  const reply = async () => {
    while (!replies.length) await new Promise((resolve) => (wake = resolve));
    return replies.shift();
  };
  const expect = async (code) => {
    const line = await reply();
    if (!line.startsWith(code)) throw new Error(`SMTP: expected ${code}, got ${line}`);
  };
  await expect('220');
  for (const [command, code] of [['EHLO test.client', '250'], ['MAIL FROM:<sender@example.com>', '250'], [`RCPT TO:<${to}>`, '250'], ['DATA', '354']]) {
    socket.write(`${command}\r\n`);
    await expect(code);
  }
  socket.write(`${mail.replace(/\r?\n/g, '\r\n').replace(/^\./gm, '..')}\r\n.\r\n`);
  await expect('250');
  socket.write('QUIT\r\n');
  socket.end();
}

const mail = (to, subject, body, type = 'text/plain') =>
  `From: Example App <app@example.com>\nTo: ${to}\nSubject: ${subject}\nMIME-Version: 1.0\nContent-Type: ${type}; charset=utf-8\n\n${body}\n`;

async function scenario(name, run) {
  const started = Date.now();
  try {
    await run();
    log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (error) {
    log(`FAIL ${name}: ${error.message.split('\n')[0]}`);
    failures.push({ scenario: name, reason: error.stack ?? String(error) });
  }
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

/** A browser context on `origin`: requests elsewhere are aborted and recorded (except those
 * `allow` lets through, answered with a 1x1 GIF); CSP violations are recorded. */
async function newContext(origin, options = {}, allow = () => false) {
  const context = await browser.newContext({ locale: 'en-US', timezoneId: 'Europe/Berlin', ...options });
  const stray = [];
  const allowed = [];
  const violations = [];
  await context.route('**/*', (route, request) => {
    const url = request.url();
    if (url.startsWith(origin) || url.startsWith('data:') || url === 'about:srcdoc') return route.continue();
    if (allow(url)) {
      allowed.push(url);
      return route.fulfill({ status: 200, contentType: 'image/gif', body: Buffer.from('R0lGODlhAQABAAAAACw=', 'base64') });
    }
    stray.push(`${request.resourceType()} ${url}`);
    return route.abort();
  });
  context.on('console', (message) => {
    if (/Content Security Policy|Refused to/.test(message.text())) violations.push(message.text());
  });
  return { context, stray, allowed, violations };
}

async function axeCheck(page, what) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  check(!bad.length, `axe found serious/critical violations on ${what}: ${JSON.stringify(bad.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) })))}`);
}

const addressOf = async (page) => (await page.locator('#address').textContent()).trim();
const item = (page, subject) => page.locator('.message-item', { hasText: subject });

// ---- public mode, through the proxy ----
const publicProxy = await proxy(new URL(setup.public.url));
const origin = publicProxy.url;
const visitor = await newContext(origin, {}, (url) => url.startsWith('http://tracker.test/'));
const page = await visitor.context.newPage();
page.on('dialog', (dialog) => dialog.accept());
let address;

await scenario('the page is served with strict headers and shows a new address', async () => {
  const response = await page.goto(`${origin}/`);
  const headers = response.headers();
  const policy = headers['content-security-policy'] ?? '';
  check(/script-src 'self'(;|$)/.test(policy), `script-src: ${policy}`);
  check(/frame-ancestors 'none'/.test(policy), `frame-ancestors: ${policy}`);
  check(!/unsafe-eval|script-src[^;]*unsafe-inline/.test(policy), `unsafe script sources: ${policy}`);
  check(headers['referrer-policy'] === 'no-referrer', `Referrer-Policy: ${headers['referrer-policy']}`);
  check(headers['x-content-type-options'] === 'nosniff', 'nosniff');
  await page.locator('#address').waitFor();
  address = await addressOf(page);
  check(/^[a-z0-9._-]+@localhost$/.test(address), `address ${address}`);
  await page.locator('.connection.live').waitFor({ timeout: 5000 });
});

await scenario('axe finds no serious or critical violation on the empty inbox', () => axeCheck(page, 'the empty inbox'));

await scenario('a mail appears within a second without a reload, with its code', async () => {
  // Timed in the page, the moment the list changes (a locator's polling would add its own delay).
  const listed = page.evaluate((subject) => new Promise((resolve) => {
    const shown = () => [...document.querySelectorAll('.message-item')].some((e) => e.textContent.includes(subject));
    const observer = new MutationObserver(() => {
      if (!shown()) return;
      observer.disconnect();
      resolve(Date.now());
    });
    observer.observe(document.body, { childList: true, subtree: true, characterData: true });
  }), 'Welcome to Example');
  await sendMail(setup.public.smtp, address, mail(address, 'Welcome to Example', 'Your verification code is 482913.\n\nConfirm: https://example.com/confirm?t=abc'));
  const sent = Date.now();
  const delay = await Promise.race([listed, page.waitForTimeout(5000).then(() => Infinity)]) - sent;
  log(`  listed ${delay} ms after the SMTP transaction`);
  check(delay <= 1000, `listed ${delay} ms after the mail was accepted`);
  check((await item(page, 'Welcome to Example').locator('.chip').textContent()) === '482913', 'code chip in the list');
  await item(page, 'Welcome to Example').click();
  check((await page.locator('#code').textContent()) === '482913', 'code chip in the reader');
  await page.locator('.links a[href="https://example.com/confirm?t=abc"]').waitFor();
  await page.locator('.message-item.unread').waitFor({ state: 'detached' });
});

await scenario('axe finds no serious or critical violation on an open message', () => axeCheck(page, 'an open message'));

await scenario('a hostile HTML mail renders without running script or fetching anything', async () => {
  const hostile = [
    '<p>Hello <b>there</b></p><p style="color: rgb(1, 2, 3)">colored line</p>',
    '<script>fetch("http://evil.test/script")</script>',
    '<img src="x" onerror="fetch(\'http://evil.test/onerror\')">',
    '<img src="http://tracker.test/pixel.gif" alt="pixel">',
    '<a href="javascript:fetch(\'http://evil.test/js\')">click</a>',
    '<div style="background:url(http://evil.test/bg.png)">styled</div>',
    '<iframe src="http://evil.test/frame"></iframe><form action="http://evil.test/form"><input autofocus onfocus="fetch(\'http://evil.test/focus\')"></form>',
  ].join('\n');
  await sendMail(setup.public.smtp, address, mail(address, 'Hostile HTML', hostile, 'text/html'));
  await item(page, 'Hostile HTML').click();
  const frame = page.locator('iframe.body-frame');
  await frame.waitFor();
  const sandbox = await frame.getAttribute('sandbox');
  check(!/allow-scripts|allow-same-origin/.test(sandbox), `sandbox="${sandbox}"`);
  const body = page.frameLocator('iframe.body-frame').locator('body');
  await body.getByText('there').waitFor();
  const color = await body.getByText('colored line').evaluate((p) => getComputedStyle(p).color).catch((e) => e.message);
  check(color === 'rgb(1, 2, 3)', `the mail's inline style is not applied: ${color}`);
  await page.frameLocator('iframe.body-frame').locator('a', { hasText: 'click' }).click({ timeout: 2000 }).catch(() => {});
  await page.waitForTimeout(500);
  check(visitor.allowed.length === 0, `remote image loaded before asking: ${visitor.allowed}`);
  await page.getByRole('button', { name: 'Show images' }).click();
  await page.waitForTimeout(500);
  check(visitor.allowed.some((url) => url.includes('tracker.test/pixel.gif')), 'the remote image loads once asked for');
  check(!visitor.stray.length, `requests left the page: ${visitor.stray.join(', ')}`);
});

await scenario('dropping and restoring the network while a mail arrives lists it once', async () => {
  await page.locator('.connection.live').waitFor();
  publicProxy.cut();
  await page.locator('.connection:not(.live)').waitFor({ timeout: 5000 });
  await sendMail(setup.public.smtp, address, mail(address, 'Sent while offline', 'Code 771204'));
  await page.waitForTimeout(1500);
  publicProxy.restore();
  await item(page, 'Sent while offline').waitFor({ timeout: 20000 });
  await page.locator('.connection.live').waitFor({ timeout: 5000 });
  await sendMail(setup.public.smtp, address, mail(address, 'Sent after restore', 'Code 550123'));
  await item(page, 'Sent after restore').waitFor({ timeout: 2000 });
  await page.waitForTimeout(500);
  check((await item(page, 'Sent while offline').count()) === 1, 'listed more than once');
  check((await page.locator('.message-item').count()) === 4, `expected 4 messages, got ${await page.locator('.message-item').count()}`);
});

await scenario('attachments and the raw source download with the inbox token', async () => {
  const withPdf = `From: Example App <app@example.com>\nTo: ${address}\nSubject: Your invoice\nMIME-Version: 1.0\n`
    + 'Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nsee attached\n'
    + '--b\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=invoice.pdf\n'
    + 'Content-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n--b--\n';
  await sendMail(setup.public.smtp, address, withPdf);
  await item(page, 'Your invoice').click();
  const attachment = page.locator('.attachments li', { hasText: 'invoice.pdf' });
  await attachment.waitFor();
  check((await attachment.textContent()).includes('application/pdf, 9 B'), `listed as ${await attachment.textContent()}`);
  const file = await page.request.get(await attachment.locator('a').getAttribute('href'));
  check(file.status() === 200 && (await file.text()) === '%PDF-1.4\n', `attachment download: ${file.status()}`);
  const raw = await page.request.get(await page.getByRole('link', { name: 'Download raw (.eml)' }).getAttribute('href'));
  check(raw.status() === 200 && (await raw.text()).includes('Subject: Your invoice'), `raw download: ${raw.status()}`);
  await page.getByRole('button', { name: 'Headers' }).click();
  await page.locator('.headers th', { hasText: 'Subject' }).waitFor();
  await page.getByRole('button', { name: 'Delete', exact: true }).click();
  await item(page, 'Your invoice').waitFor({ state: 'detached' });
});

await scenario('a reload keeps the inbox and its messages', async () => {
  await page.reload();
  await page.locator('#address').waitFor();
  check((await addressOf(page)) === address, `reload gave ${await addressOf(page)}`);
  await item(page, 'Welcome to Example').waitFor();
});

await scenario('switching the language changes the labels and is kept', async () => {
  await page.getByLabel('Language').selectOption('de');
  await page.getByText('Deine temporäre Adresse').waitFor();
  check(await page.getByRole('button', { name: 'Adresse kopieren' }).isVisible(), 'German copy button');
  // The page sets `lang` after it renders the new labels: wait for it, do not race it.
  await page.locator('html[lang="de"]').waitFor({ state: 'attached' });
  await page.getByLabel('Sprache').selectOption('es');
  await page.getByText('Tu dirección temporal').waitFor();
  await page.reload();
  await page.getByText('Tu dirección temporal').waitFor();
  await page.getByLabel('Idioma').selectOption('en');
  await page.getByText('Your temporary address').waitFor();
});

await scenario('a custom address, deleting a message and extending work', async () => {
  await page.getByText('Choose an address').click();
  await page.getByLabel('Name before the @').fill('custom-name');
  await page.getByRole('button', { name: 'Create' }).click();
  await page.locator('#address', { hasText: 'custom-name@localhost' }).waitFor();
  await page.getByText('No mail yet').waitFor();
  const next = await addressOf(page);
  await sendMail(setup.public.smtp, next, mail(next, 'To be deleted', 'bye'));
  await item(page, 'To be deleted').click();
  await page.getByRole('button', { name: 'Delete', exact: true }).click();
  await item(page, 'To be deleted').waitFor({ state: 'detached' });
  const before = await page.locator('.countdown time').textContent();
  await page.getByRole('button', { name: 'Extend' }).click();
  await page.waitForFunction((old) => document.querySelector('.countdown time')?.textContent.split(':').length > old.split(':').length
    || document.querySelector('.countdown time')?.textContent > old, before);
});

await scenario('GraphiQL loads from the server alone, without a CSP violation', async () => {
  const graphiql = await visitor.context.newPage();
  await graphiql.goto(`${origin}/graphql`);
  await graphiql.locator('.graphiql-container').waitFor({ timeout: 15000 });
  await graphiql.locator('.graphiql-execute-button').waitFor();
  check(!visitor.stray.length, `requests left the page: ${visitor.stray.join(', ')}`);
  await graphiql.close();
});

await scenario('the 360 px layout has no horizontal scroll', async () => {
  const phone = await visitor.context.newPage();
  await phone.setViewportSize({ width: 360, height: 740 });
  await phone.goto(`${origin}/`);
  await phone.locator('#address').waitFor();
  const overflow = () => phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check((await overflow()) <= 0, `list view overflows by ${await overflow()} px`);
  await sendMail(setup.public.smtp, await addressOf(phone), mail(await addressOf(phone), 'A rather long subject line that goes on and on for the phone layout test', 'Code 123456 https://example.com/a/very/long/link/that/should/wrap/nicely/on/a/phone/screen'));
  await item(phone, 'A rather long subject').click();
  await phone.locator('#code').waitFor();
  check((await overflow()) <= 0, `reader overflows by ${await overflow()} px`);
  await phone.getByRole('button', { name: /Back to the list/ }).click();
  await phone.close();
});

if (visitor.violations.length) failures.push({ scenario: 'Content-Security-Policy', reason: visitor.violations.join('\n') });

// ---- developer mode ----
await scenario('developer mode with a key lists and searches the inboxes', async () => {
  const api = async (query, variables) => {
    const response = await fetch(`${setup.developer.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${setup.developer.key}` },
      body: JSON.stringify({ query, variables }),
    });
    return (await response.json()).data;
  };
  for (const local of ['alpha-signup', 'beta-reset']) {
    await api('mutation ($l: String!) { createInbox(input: {domain: "localhost", localPart: $l}) { status } }', { l: local });
  }
  await sendMail(setup.developer.smtp, 'beta-reset@localhost', mail('beta-reset@localhost', 'Reset your password', 'Code 908070'));
  const developer = await newContext(setup.developer.url);
  const dev = await developer.context.newPage();
  await dev.goto(`${setup.developer.url}/`);
  await dev.getByLabel('API key or inbox token').fill(setup.developer.key);
  await dev.getByRole('button', { name: 'Sign in' }).click();
  await dev.getByRole('button', { name: 'alpha-signup@localhost' }).waitFor();
  await dev.getByRole('button', { name: 'beta-reset@localhost' }).waitFor();
  await dev.getByLabel('Search by address').fill('beta');
  await dev.getByRole('button', { name: 'alpha-signup@localhost' }).waitFor({ state: 'detached' });
  await dev.getByRole('button', { name: 'beta-reset@localhost' }).click();
  await item(dev, 'Reset your password').click();
  check((await dev.locator('#code').textContent()) === '908070', 'code in developer mode');
  await axeCheck(dev, 'developer mode');
  await dev.reload();
  await dev.getByRole('button', { name: 'beta-reset@localhost' }).waitFor();
  // An inbox token instead of the key: that inbox alone.
  const { inbox } = await api('{ inbox(address: "beta-reset@localhost") { id } }');
  const { createInboxToken } = await api('mutation ($id: ID!) { createInboxToken(inboxId: $id) { token } }', { id: inbox.id });
  await dev.getByRole('button', { name: 'Sign out' }).click();
  await dev.getByLabel('API key or inbox token').fill(createInboxToken.token);
  await dev.getByRole('button', { name: 'Sign in' }).click();
  await dev.locator('#address', { hasText: 'beta-reset@localhost' }).waitFor();
  await item(dev, 'Reset your password').waitFor();
  check(!(await dev.getByLabel('Search by address').count()), 'an inbox token sees no inbox list');
  check(!developer.stray.length && !developer.violations.length, `${developer.stray} ${developer.violations}`);
  await developer.context.close();
});

// ---- screenshots ----
if (setup.screenshots) {
  await mkdir(setup.screenshots, { recursive: true });
  for (const colorScheme of ['light', 'dark']) {
    for (const [device, viewport] of [['desktop', { width: 1280, height: 860 }], ['phone', { width: 360, height: 780 }]]) {
      await scenario(`screenshot ${device} ${colorScheme}`, async () => {
        const { context } = await newContext(origin, { colorScheme, viewport, deviceScaleFactor: device === 'phone' ? 2 : 1 });
        const shot = await context.newPage();
        await shot.goto(`${origin}/`);
        await shot.locator('#address').waitFor();
        const to = await addressOf(shot);
        await sendMail(setup.public.smtp, to, mail(to, 'Confirm your Example account', 'Hi,\n\nyour verification code is 482913.\n\nOr open https://example.com/confirm?token=abc123\n'));
        await sendMail(setup.public.smtp, to, mail(to, 'Welcome aboard', '<h1 style="color:#2151c5">Welcome!</h1><p>Thanks for signing up. <a href="https://example.com/start">Get started</a></p><img src="http://tracker.test/p.gif">', 'text/html'));
        await item(shot, 'Welcome aboard').waitFor();
        await shot.screenshot({ path: `${setup.screenshots}/inbox-${device}-${colorScheme}.png` });
        await item(shot, 'Confirm your Example account').click();
        await shot.locator('#code').waitFor();
        await shot.waitForTimeout(300);
        await shot.screenshot({ path: `${setup.screenshots}/message-${device}-${colorScheme}.png` });
        if (device === 'desktop') {
          await item(shot, 'Welcome aboard').click();
          await shot.frameLocator('iframe.body-frame').getByText('Get started').waitFor();
          await shot.screenshot({ path: `${setup.screenshots}/html-${device}-${colorScheme}.png` });
        }
        await context.close();
      });
    }
  }
}

if (setup.screenshots) {
  for (const colorScheme of ['light', 'dark']) {
    await scenario(`screenshot developer desktop ${colorScheme}`, async () => {
      const { context } = await newContext(setup.developer.url, { colorScheme, viewport: { width: 1280, height: 860 } });
      const shot = await context.newPage();
      await shot.goto(`${setup.developer.url}/`);
      await shot.getByLabel('API key or inbox token').fill(setup.developer.key);
      await shot.getByRole('button', { name: 'Sign in' }).click();
      await shot.getByRole('button', { name: 'beta-reset@localhost' }).click();
      await item(shot, 'Reset your password').click();
      await shot.locator('#code').waitFor();
      await shot.waitForTimeout(300);
      await shot.screenshot({ path: `${setup.screenshots}/developer-desktop-${colorScheme}.png` });
      await context.close();
    });
  }
}

await browser.close();
publicProxy.close();
console.log(JSON.stringify(failures, null, 2));
process.exitCode = failures.length ? 1 : 0;
