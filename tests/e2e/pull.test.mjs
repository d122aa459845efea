// pull.test.mjs — POST /v1/models/pull streams download progress as SSE from a
// local stand-in for the hub (LOCALM_HF_ENDPOINT), after which the pulled
// model answers chat requests; a missing file ends the stream with an error.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { createReadStream, mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { referenceModel, startServer } from "./server.mjs";

const modelPath = referenceModel();
let hub, srv, hubUrl;

before(async () => {
  if (!modelPath) return;
  // Serves the reference model at /OWNER/REPO/resolve/main/FILE, in small
  // chunks so that several progress events arrive.
  hub = http.createServer((req, res) => {
    if (!req.url.endsWith("/resolve/main/tiny.gguf")) { res.writeHead(404); res.end("no"); return; }
    res.writeHead(200, { "Content-Length": statSync(modelPath).size });
    createReadStream(modelPath, { highWaterMark: 64 * 1024 }).pipe(res);
  });
  await new Promise((r) => hub.listen(0, "127.0.0.1", r));
  hubUrl = `http://127.0.0.1:${hub.address().port}`;
  const home = mkdtempSync(path.join(tmpdir(), "localm-pull-"));
  srv = await startServer([modelPath, "--threads", "2"],
    { LOCALM_HF_ENDPOINT: hubUrl, LOCALM_HOME: home, LOCALM_OFFLINE: "" });
});
after(async () => {
  if (srv) assert.equal(await srv.stop(), 0);
  if (hub) hub.close();
});

async function sse(url, body) {
  const r = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  assert.equal(r.status, 200);
  const events = [];
  for (const block of (await r.text()).split("\n\n")) {
    const line = block.trim();
    if (!line.startsWith("data:")) continue;
    const data = line.slice(5).trim();
    if (data !== "[DONE]") events.push(JSON.parse(data));
  }
  return events;
}

test("pull streams progress, then the model answers", { skip: !modelPath }, async () => {
  const ref = "hf://someone/tiny/tiny.gguf";
  const events = await sse(`${srv.url}/v1/models/pull`, { model: ref });
  const dl = events.filter((e) => e.phase === "download");
  assert.ok(dl.length >= 2, `download progress events: ${dl.length}`);
  const size = statSync(modelPath).size;
  assert.equal(dl[dl.length - 1].done, size);
  assert.ok(events.some((e) => e.phase === "verify"));
  const last = events[events.length - 1];
  assert.equal(last.status, "downloaded");
  assert.equal(last.size_bytes, size);
  assert.match(last.sha256, /^[0-9a-f]{64}$/);
  const r = await fetch(`${srv.url}/v1/chat/completions`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ model: ref, messages: [{ role: "user", content: "The jury said" }], max_tokens: 4, temperature: 0 }) });
  assert.equal(r.status, 200);
  assert.ok((await r.json()).choices[0].message.content.length > 0);
});

test("pulling a missing file ends with an error event", { skip: !modelPath }, async () => {
  const events = await sse(`${srv.url}/v1/models/pull`, { model: "hf://someone/tiny/missing.gguf" });
  const last = events[events.length - 1];
  assert.ok(last.error, JSON.stringify(last));
  assert.match(last.error.message, /404/);
});
