// Drives the dashboard in headless Chromium (Debian's, through playwright-core): waits until the
// page shows worker NAME working, kills PID, and waits until the page shows it red, with the
// event stream live. Saves a screenshot either way. Prints one line per finding.
import { chromium } from "playwright-core";

const [url, pid, name, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let failed = false;
const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
try {
  await page.goto(url);
  await page.waitForSelector(`tr[data-worker="${name}"][data-state="working"]`, { timeout: 10000 });
  await page.waitForFunction(() => document.getElementById("mode").textContent.startsWith("live"),
    null, { timeout: 10000 });
  console.log("page: worker working, stream live");
  // A killer named "<b>xss</b>" put markup in a reason: it must show as text, never as HTML.
  const xss = await page.evaluate(() => {
    const row = document.querySelector('tr[data-worker="xss"]');
    return { row: row ? row.textContent : "", bold: document.querySelectorAll("body b").length };
  });
  if (xss.row.includes("<b>xss</b>") && xss.bold === 0)
    console.log("page: markup in a reason shown as text");
  else
    console.log(`page: markup check failed: ${JSON.stringify(xss)}`);
  process.kill(Number(pid), "SIGKILL");
  const started = Date.now();
  await page.waitForSelector(`tr[data-worker="${name}"][data-health="red"]`, { timeout: 5000 });
  console.log(`page: worker red after ${Date.now() - started} ms`);
  console.log(`page: host ${await page.getAttribute("#host", "class")}`);
} catch (err) {
  console.log(`page: ${err.message.split("\n")[0]}`);
  failed = true;
}
await page.screenshot({ path: screenshot });
await browser.close();
process.exit(failed ? 1 : 0);
