// Usage: node xss-render.mjs VECTORS.json
// Renders HTML in headless Chromium and reports any that runs script or makes a request.
//
// VECTORS.json is a JSON array of {id, html, trigger?, remoteImages?}: `trigger` is JavaScript
// run after load (clicks, focus) for vectors that need an interaction; `remoteImages: true`
// allows what ephemail's default `Message.html` allows, http(s) requests of `<img src>`. Prints
// a JSON array of failures {id, reason, html} to stdout and exits 1 if there are any.
//
// How script execution is detected, so that it does not depend on the payload calling alert():
// every page is served with a report-only Content-Security-Policy forbidding all script, so
// that each inline script, event handler, javascript: URL or plugin the browser runs (report-
// only lets it run) fires a `securitypolicyviolation` event; an init script reports those and
// calls of alert/confirm/prompt/print through a binding, before any page script can interfere.
// Requests are intercepted: the page's own document is served, everything else is aborted and,
// unless the policy allows it, reported, as are navigations away and new windows.
import { readFile } from 'node:fs/promises';
import { chromium } from 'playwright-core';

const ORIGIN = 'https://mail.test';
// Two browser contexts per core of the CI machine keep both busy while each waits on timers.
const WORKERS = 4;
// After load and trigger: long enough for autofocus, animation and transition events and a
// zero-delay meta refresh to happen.
const SETTLE_MS = 100;
// A document that takes longer (a script in an endless loop) fails and gets a fresh context.
const VECTOR_TIMEOUT_MS = 10_000;

// Only what runs code: requests of other kinds are judged from the network side.
const CSP = "script-src 'none' 'report-sample'; object-src 'none'";

// Runs in every document and frame before the page's own scripts.
function instrument() {
  const report = window.__xssReport;
  // Which vector's document this is; a late report still names the right vector.
  const path = (() => {
    try {
      return top.location.pathname;
    } catch {
      return location.pathname;
    }
  })();
  // Capturing on window runs before any listener the page could add to stop the event.
  addEventListener(
    'securitypolicyviolation',
    (e) => report(path, `script ran: CSP ${e.effectiveDirective} violation (${e.blockedURI}: ${e.sample})`),
    true,
  );
  for (const name of ['alert', 'confirm', 'prompt', 'print']) {
    window[name] = () => report(path, `script ran: ${name}() called`);
  }
}

const vectors = JSON.parse(await readFile(process.argv[2], 'utf8'));
// Identical documents behave identically (sanitized output repeats a lot): each is rendered once
// and its verdict given to every vector that produced it.
const sharing = new Map();
for (const vector of vectors) {
  const key = JSON.stringify([vector.html, vector.trigger ?? null, Boolean(vector.remoteImages)]);
  sharing.set(key, [...(sharing.get(key) ?? []), vector]);
}
const documents = [...sharing.values()].map(([first]) => first);
const reasons = documents.map(() => []);
const pathOf = (index) => `/v/${index}`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});

/** A browser context with one page, reporting into `reasons[worker.index]`. */
async function newWorker() {
  const worker = { index: -1, served: 0, requests: [] };
  const current = () => reasons[worker.index];
  const context = await browser.newContext();
  await context.exposeBinding('__xssReport', (_source, path, reason) => {
    const index = Number(path.split('/').pop());
    (reasons[index] ?? current()).push(reason);
  });
  await context.addInitScript(instrument);
  await context.route('**/*', async (route, request) => {
    const url = new URL(request.url());
    if (request.isNavigationRequest() && url.origin === ORIGIN && url.pathname === pathOf(worker.index)
      && request.frame() === worker.page?.mainFrame() && worker.served++ === 0) {
      await route.fulfill({
        status: 200,
        headers: { 'content-type': 'text/html; charset=utf-8', 'content-security-policy-report-only': CSP },
        body: documents[worker.index].html,
      });
      return;
    }
    // Judged after the settle time, against the images the page has then.
    worker.requests.push({ url: request.url(), type: request.resourceType() });
    // An aborted navigation would still replace the page (with an error page), possibly
    // while the next vector loads; a 204 leaves the page as it is.
    await (request.isNavigationRequest() ? route.fulfill({ status: 204 }) : route.abort());
  });
  worker.context = context;
  worker.page = await context.newPage();
  context.on('page', (page) => {
    current().push(`opened a window: ${page.url()}`);
    page.close().catch(() => {});
  });
  worker.page.on('dialog', (dialog) => {
    current().push(`script ran: ${dialog.type()} dialog "${dialog.message()}"`);
    // Accepting also lets a `beforeunload` prompt give way to the next vector.
    dialog.accept().catch(() => {});
  });
  worker.page.on('framenavigated', (frame) => {
    const left = frame.url().split('#')[0];
    if (frame === worker.page.mainFrame() && left !== `${ORIGIN}${pathOf(worker.index)}`) {
      current().push(`navigated to ${frame.url()}`);
    }
  });
  return worker;
}

async function render(worker, index) {
  const { page } = worker;
  Object.assign(worker, { index, served: 0, requests: [] });
  await page.goto(`${ORIGIN}${pathOf(index)}`, { waitUntil: 'load', timeout: VECTOR_TIMEOUT_MS });
  const { trigger } = documents[index];
  if (trigger) {
    // A string is evaluated through the DevTools protocol, outside the page's CSP: the
    // trigger itself is not reported, only what it makes the page do. Triggers written for
    // other browsers throw here; that is fine.
    await page.evaluate(`try { ${trigger}\n} catch {}`).catch(() => {});
  }
  await page.waitForTimeout(SETTLE_MS);
  // Unless a script ran (which is reported anyway), the DOM's images are the document's own.
  // Compared without the scheme: Chromium upgrades http images on an https page to https.
  const withoutScheme = (url) => url.replace(/^https?:/, '');
  const images = new Set(await page.evaluate(() => Array.from(document.images, (img) => img.src)).catch(() => []));
  const imageUrls = new Set([...images].filter((src) => /^https?:/.test(src)).map(withoutScheme));
  for (const { url, type } of worker.requests) {
    const remoteImage = documents[index].remoteImages && type === 'image' && /^https?:/.test(url)
      && imageUrls.has(withoutScheme(url));
    const reason = url === `${ORIGIN}${pathOf(index)}` ? `reloaded (${type})` : `request left the page: ${type} ${url}`;
    if (!remoteImage) reasons[index].push(reason);
  }
}

async function run(worker, queue) {
  for (let index = queue.next(); index !== undefined; index = queue.next()) {
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no result within ${VECTOR_TIMEOUT_MS} ms`)), VECTOR_TIMEOUT_MS);
    });
    try {
      await Promise.race([render(worker, index), timeout]);
    } catch (error) {
      reasons[index].push(`did not render: ${error.message.split('\n')[0]}`);
      await worker.context.close().catch(() => {});
      worker = await newWorker();
    } finally {
      clearTimeout(timer);
    }
  }
  await worker.context.close();
}

const started = Date.now();
let next = 0;
const queue = { next: () => (next < documents.length ? next++ : undefined) };
const workers = await Promise.all(Array.from({ length: Math.min(WORKERS, documents.length) }, newWorker));
await Promise.all(workers.map((worker) => run(worker, queue)));
await browser.close();

const failures = [...sharing.values()].flatMap((same, index) => {
  const reason = [...new Set(reasons[index])].join('; ');
  return reason ? same.map(({ id, html }) => ({ id, reason, html })) : [];
});
console.log(JSON.stringify(failures, null, 2));
console.error(`rendered ${vectors.length} vectors (${documents.length} distinct documents) in ${Date.now() - started} ms; ${failures.length} failed`);
process.exitCode = failures.length ? 1 : 0;
