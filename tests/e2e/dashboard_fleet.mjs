// The dashboard at fleet scale, in headless Chromium (Debian's, through playwright-core):
// the first paint comes with the page, before any fetch (all /api requests are held back); a
// 1,000-worker page renders within a second of navigation; the dead sort first with their exit
// facts in a detail row; the filter box narrows the rows; and the page stays live (a worker
// added after load appears). Prints one line per finding.
import { chromium } from "playwright-core";

const [url, ingest, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let failed = false;
try {
  // 1. First paint without any API answer.
  const blind = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  await blind.route("**/api/**", (route) => route.abort());
  await blind.goto(url, { waitUntil: "domcontentloaded" });
  const first = await blind.evaluate(() => ({
    rows: document.querySelectorAll("tbody tr[data-worker]").length,
    verdict: document.getElementById("verdict").textContent,
    hostname: document.getElementById("hostname").textContent,
  }));
  console.log(`first paint: ${first.rows} rows, verdict ${first.verdict}, host ${first.hostname}`);
  await blind.close();

  // 2. A full page load, timed from navigation to 1,000 rows drawn.
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const started = Date.now();
  await page.goto(url);
  await page.waitForFunction(() => document.querySelectorAll("tbody tr[data-worker]").length >= 1000,
    null, { timeout: 10000 });
  console.log(`rendered 1000 workers in ${Date.now() - started} ms`);
  const order = await page.evaluate(() => {
    const rows = [...document.querySelectorAll("tbody tr[data-worker]")];
    const detail = document.querySelector("tr.detail");
    return { first: rows[0].dataset.health, last: rows[rows.length - 1].dataset.health,
      detail: detail ? detail.textContent : "" };
  });
  console.log(`order: first ${order.first}, last ${order.last}`);
  console.log(`detail: ${order.detail}`);

  // 3. The filter box.
  await page.fill("#filter", "fleet-99");
  const filtered = await page.evaluate(() => document.querySelectorAll("tbody tr[data-worker]").length);
  console.log(`filter fleet-99: ${filtered} rows`);
  await page.fill("#filter", "");

  // 4. Still live: a worker registered now appears without a reload.
  await page.waitForFunction(() => document.getElementById("mode").textContent.startsWith("live"),
    null, { timeout: 10000 });
  const { execFileSync } = await import("node:child_process");
  execFileSync("python3", ["-c",
    "import socket,sys,time; s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); " +
    "s.sendto(f'episode worker=late-comer completed_at={time.time()}'.encode(), sys.argv[1])", ingest]);
  const live = Date.now();
  await page.waitForSelector('tr[data-worker="late-comer"]', { timeout: 5000 });
  console.log(`live: a new worker shown after ${Date.now() - live} ms`);
  await page.screenshot({ path: screenshot });
} catch (err) {
  console.log(`page: ${err.message.split("\n")[0]}`);
  failed = true;
}
await browser.close();
process.exit(failed ? 1 : 0);
