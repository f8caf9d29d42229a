// Drives the console in Debian's Chromium (puppeteer-core, no browser download) through the states an operator
// sees, taking a screenshot of each. The gateway side is driven by the pytest that runs this script: a line
// "NEED <action> [arg]" on stdout is answered by one line on stdin. Exits non-zero on the first failed check.
import { createInterface } from "node:readline";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import puppeteer from "puppeteer-core";

const [consoleUrl, workspaceSid, writerToken, readerToken, shotsDir] = process.argv.slice(2);
mkdirSync(shotsDir, { recursive: true });
const lines = createInterface({ input: process.stdin });
const replies = lines[Symbol.asyncIterator]();
const WAIT = 15000; // generous on a loaded 2-core machine; how long each step took is printed, not asserted

async function need(action, arg = "") {
  console.log(`NEED ${action} ${arg}`.trim());
  const { value, done } = await replies.next();
  if (done) throw new Error(`no answer to ${action}`);
  return value.trim();
}

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

async function statusIs(page, state) {
  await page.waitForFunction((s) => document.getElementById("status").dataset.state === s, { timeout: WAIT }, state);
  return page.$eval("#status", (el) => el.textContent);
}

async function shot(page, name) {
  const path = join(shotsDir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  console.log(`SHOT ${path}`);
}

async function useToken(page, token) {
  await page.click("#token", { count: 3 });
  await page.keyboard.press("Backspace");
  if (token) await page.type("#token", token);
  await page.focus("#token");
  await page.keyboard.press("Enter"); // keyboard only: the token form submits on Enter
}

async function eventCount(page, sid) {
  return page.$$eval(`#events li[data-resource="${sid}"][data-type="worker.created"]`, (items) => items.length);
}

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
});
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 800 });
  const failures = [];
  page.on("pageerror", (err) => failures.push(String(err)));
  // Nothing but the gateway's own origin may be contacted: no CDN, no fonts, nothing else.
  const origin = new URL(consoleUrl).origin;
  const foreign = [];
  page.on("request", (request) => { if (!request.url().startsWith(origin)) foreign.push(request.url()); });

  // 1. Auth is on and no token is set: the page says the token is refused.
  await page.goto(`${consoleUrl}#workspace=${workspaceSid}`, { waitUntil: "domcontentloaded" });
  const refusedText = await statusIs(page, "refused");
  check(/Token refused/.test(refusedText) && /credential/.test(refusedText), `refused status: ${refusedText}`);
  await shot(page, "01-token-refused");

  // 2. A writer's token: live, the write button usable.
  await useToken(page, writerToken);
  await statusIs(page, "live");
  await page.waitForFunction(() => !document.getElementById("create-worker-button").disabled, { timeout: WAIT });
  await shot(page, "02-live");

  // 3. A worker made through gRPC shows in the tail and in the workers table.
  const startedAt = Date.now();
  const first = await need("create-worker", "grpc-made");
  await page.waitForSelector(`#events li[data-resource="${first}"]`, { timeout: WAIT });
  const tailMs = Date.now() - startedAt;
  await page.waitForSelector(`#workers tr[data-sid="${first}"]`, { timeout: WAIT });
  console.log(`MEASURE worker_in_tail_ms ${tailMs} worker_in_table_ms ${Date.now() - startedAt}`);
  const row = await page.$eval(`#workers tr[data-sid="${first}"]`, (tr) => [...tr.cells].map((c) => c.textContent));
  check(row[0] === "grpc-made" && row[1] === "Offline", `worker row: ${row}`);
  await shot(page, "03-worker-appeared");

  // 4. The gateway stops: the page says it is disconnected.
  await need("stop-gateway");
  const downText = await statusIs(page, "disconnected");
  check(/Disconnected/.test(downText) && /reconnecting/.test(downText), `disconnected status: ${downText}`);
  await shot(page, "04-disconnected");

  // 5. It comes back and a worker is made at once: the tail resumes from its cursor, nothing lost or doubled.
  await need("start-gateway");
  const second = await need("create-worker", "after-restart");
  await statusIs(page, "live");
  await page.waitForSelector(`#events li[data-resource="${second}"]`, { timeout: WAIT });
  await page.waitForSelector(`#workers tr[data-sid="${second}"]`, { timeout: WAIT });
  check(await eventCount(page, first) === 1, "the first worker's event is shown once");
  check(await eventCount(page, second) === 1, "the second worker's event is shown once");
  const sids = await page.$$eval("#events li", (items) => items.map((li) => li.dataset.sid));
  check(new Set(sids).size === sids.length, "no event is shown twice");
  await shot(page, "05-recovered");

  // 6. Filters hide what does not match, keyboard only.
  await page.focus("#filter-resource");
  await page.keyboard.type(second);
  await page.keyboard.press("Enter");
  const visible = await page.$$eval("#events li:not([hidden])", (items) => items.map((li) => li.dataset.resource));
  check(visible.length >= 1 && visible.every((sid) => sid === second), `filtered: ${visible}`);
  await shot(page, "06-filtered");

  // 7. A read-only token: the write button cannot be pressed, and the page says why.
  await useToken(page, readerToken);
  await statusIs(page, "live");
  await page.waitForFunction(() => document.getElementById("write-note").textContent.includes("may not write"), { timeout: WAIT });
  check(await page.$eval("#create-worker-button", (b) => b.disabled), "the write button is disabled");
  await page.type("#worker-name", "should-not-exist");
  await page.click("#create-worker-button").catch(() => {});
  await page.keyboard.press("Enter");
  const workersNow = await page.$$eval("#workers tbody tr td:first-child", (cells) => cells.map((c) => c.textContent));
  check(!workersNow.includes("should-not-exist"), "nothing was created with a read-only token");
  await shot(page, "07-read-only");

  // 8. A phone: the same page, one column, no sideways scrolling of the page itself.
  await page.setViewport({ width: 390, height: 844, isMobile: true, hasTouch: true });
  const overflow = await page.evaluate(() => Math.max(
    document.documentElement.scrollWidth - document.documentElement.clientWidth,
    ...[...document.querySelectorAll("header *, form *")].map((el) => el.getBoundingClientRect().right - document.documentElement.clientWidth)));
  check(overflow <= 1, `the page scrolls sideways on a phone by ${overflow}px`);
  await shot(page, "08-phone");

  check(failures.length === 0, `page errors: ${failures.join("; ")}`);
  check(foreign.length === 0, `requests off the gateway's origin: ${foreign.join(", ")}`);
  console.log("DONE");
} finally {
  await browser.close();
  lines.close(); // stdin stays open on the pytest side: without this, node would wait on it for ever
}
