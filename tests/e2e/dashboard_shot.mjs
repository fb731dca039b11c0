// A screenshot of the dashboard as it is now (headless Chromium through playwright-core), once
// its rows are drawn. Prints one line.
import { chromium } from "playwright-core";

const [url, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
await page.goto(url);
await page.waitForSelector("tbody tr[data-worker]", { timeout: 10000 });
await page.screenshot({ path: screenshot, fullPage: true });
console.log(`screenshot: ${screenshot}`);
await browser.close();
