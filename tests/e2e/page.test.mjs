// page.test.mjs — Playwright (playwright-core driving Debian's chromium,
// headless) opens the chat page, picks a model, sends a message, sees text
// stream in and the backend badge, presses stop, and saves a screenshot.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { referenceModel, startServer, outDir } from "./server.mjs";

const modelPath = referenceModel();
const browserPath = process.env.LOCALM_CHROMIUM || "/usr/bin/chromium";
const haveBrowser = existsSync(browserPath);
if (!haveBrowser) console.log(`skipped: no browser at ${browserPath}`);
let srv, browser;

before(async () => {
  if (!modelPath || !haveBrowser) return;
  // Tokens come 150 ms apart (a test hook) so that stop lands mid-answer: at
  // 40 ms a loaded 2-core machine saw the answer end (EOS) between the check
  // that stop is enabled and the click.
  srv = await startServer([modelPath, "--threads", "2"], { LOCALM_FAULT: "token_delay_ms:150" });
  browser = await chromium.launch({
    executablePath: browserPath,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});
after(async () => {
  if (browser) await browser.close();
  if (srv) assert.equal(await srv.stop(), 0);
});

test("chat page: pick, send, stream, badge, stop", { skip: !modelPath || !haveBrowser }, async () => {
  const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(srv.url + "/");
  await page.waitForSelector("#model-picker option", { state: "attached" });
  const values = await page.$$eval("#model-picker option", (os) => os.map((o) => o.value));
  assert.ok(values.includes("tiny-llama3-f16"), values.join(","));
  await page.selectOption("#model-picker", "tiny-llama3-f16");
  await page.click("#load-model");
  await page.waitForSelector("#badge:not([hidden])");
  assert.match(await page.textContent("#badge"), /backend: (cpu|cuda)/);

  await page.fill("#input", "Tell me what the jury said about the election");
  await page.click("#send");
  // Text streams in: the answer grows over several observations.
  const answer = page.locator(".msg.assistant").last();
  await page.waitForFunction(() => {
    const m = document.querySelectorAll(".msg.assistant");
    return m.length && m[m.length - 1].textContent.trim().length > 0;
  });
  const first = (await answer.textContent()).length;
  await page.waitForFunction((n) => {
    const m = document.querySelectorAll(".msg.assistant");
    return m[m.length - 1].textContent.length > n;
  }, first);
  assert.equal(await page.isEnabled("#stop"), true);
  await page.click("#stop");
  await page.waitForFunction(() => document.querySelector("#stop").disabled);
  assert.match(await answer.textContent(), /\[stopped\]/);
  mkdirSync(outDir, { recursive: true });
  const shot = path.join(outDir, "chat-page.png");
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`screenshot: ${shot}`);
  assert.deepEqual(errors, []);
});
