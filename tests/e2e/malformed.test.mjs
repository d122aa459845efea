// malformed.test.mjs — malformed requests sent with curl get the right 4xx
// status and an OpenAI-shaped error body, and the server keeps serving.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { referenceModel, startServer } from "./server.mjs";

const modelPath = referenceModel();
let srv;
before(async () => { if (modelPath) srv = await startServer([modelPath, "--threads", "2"]); });
after(async () => { if (srv) assert.equal(await srv.stop(), 0); });

// POSTs with curl; returns {status, body}.
function curl(route, args) {
  const out = execFileSync("curl", ["-s", "-o", "-", "-w", "\n%{http_code}", "-X", "POST",
    "-H", "Content-Type: application/json", ...args, `${srv.url}${route}`], { maxBuffer: 64 << 20 }).toString();
  const i = out.lastIndexOf("\n");
  return { status: Number(out.slice(i + 1)), body: out.slice(0, i) };
}

function expectError(r, status, param) {
  assert.equal(r.status, status, r.body);
  const j = JSON.parse(r.body);
  assert.equal(typeof j.error.message, "string");
  assert.ok(j.error.message.length > 0);
  assert.equal(typeof j.error.type, "string");
  assert.ok("param" in j.error && "code" in j.error);
  if (param !== undefined) assert.equal(j.error.param, param);
  return j.error;
}

const chat = "/v1/chat/completions";

test("invalid JSON is a 400", { skip: !modelPath }, () => {
  expectError(curl(chat, ["-d", '{"messages": [}']), 400);
});

test("wrong types are 400s naming the parameter", { skip: !modelPath }, () => {
  expectError(curl(chat, ["-d", '{"messages": "hi"}']), 400, "messages");
  expectError(curl(chat, ["-d", '{"messages": [{"role":"user","content":"hi"}], "temperature": "hot"}']), 400, "temperature");
  expectError(curl(chat, ["-d", '{"messages": [{"role":"user","content":"hi"}], "max_tokens": 1.5}']), 400, "max_tokens");
  expectError(curl(chat, ["-d", '{"messages": [{"role":"wizard","content":"hi"}]}']), 400, "messages[0]");
  expectError(curl(chat, ["-d", '{"messages": [{"role":"user","content":"hi"}], "stream": "yes"}']), 400, "stream");
});

test("unsupported parameters are refused by name", { skip: !modelPath }, () => {
  const e = expectError(curl(chat, ["-d", '{"messages": [{"role":"user","content":"hi"}], "tools": []}']), 400, "tools");
  assert.match(e.message, /not supported/);
  expectError(curl(chat, ["-d", '{"messages": [{"role":"user","content":"hi"}], "response_format": {"type":"json_object"}}']), 400, "response_format");
  expectError(curl(chat, ["-d", '{"messages": [{"role":"user","content":"hi"}], "n": 2}']), 400, "n");
});

test("a huge max_tokens is a 400", { skip: !modelPath }, () => {
  const e = expectError(curl(chat, ["-d", '{"messages": [{"role":"user","content":"hi"}], "max_tokens": 1000000000}']), 400, "max_tokens");
  assert.match(e.message, /context length/);
});

test("a 10 MB body is a 413", { skip: !modelPath }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), "localm-"));
  const f = path.join(dir, "big.json");
  writeFileSync(f, JSON.stringify({ messages: [{ role: "user", content: "x".repeat(10 << 20) }] }));
  expectError(curl(chat, ["--data-binary", `@${f}`]), 413);
});

test("unknown routes are 404 and the server still answers", { skip: !modelPath }, () => {
  expectError(curl("/v1/nothing", ["-d", "{}"]), 404);
  const r = curl(chat, ["-d", '{"messages": [{"role":"user","content":"The jury said"}], "max_tokens": 4, "temperature": 0}']);
  assert.equal(r.status, 200, r.body);
  assert.equal(JSON.parse(r.body).object, "chat.completion");
});
