// openai.test.mjs — the official `openai` npm client, unmodified, against a
// running `localm serve` with a reference model from ../shared/testdata.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { referenceModel, startServer } from "./server.mjs";

const modelPath = referenceModel();
const MODEL = "tiny-llama3-f16";
let srv, client;

before(async () => {
  if (!modelPath) return;
  srv = await startServer([modelPath, "--threads", "2"]);
  client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: "unused", maxRetries: 0 });
});
after(async () => {
  if (srv) assert.equal(await srv.stop(), 0);
});

const messages = [{ role: "user", content: "The jury said" }];

test("lists models", { skip: !modelPath }, async () => {
  const page = await client.models.list();
  const ids = page.data.map((m) => m.id);
  assert.ok(ids.includes(MODEL), `models: ${ids.join(", ")}`);
  const m = page.data.find((x) => x.id === MODEL);
  assert.equal(m.object, "model");
  assert.equal(m.localm.loaded, true);
  assert.ok(["cpu", "cuda"].includes(m.localm.backend));
});

test("chat without and with streaming gives the same text at temperature 0", { skip: !modelPath }, async () => {
  const plain = await client.chat.completions.create({ model: MODEL, messages, temperature: 0, max_tokens: 24 });
  const text = plain.choices[0].message.content;
  assert.ok(text.length > 0);
  assert.equal(plain.choices[0].message.role, "assistant");
  assert.equal(plain.usage.completion_tokens <= 24, true);
  assert.ok(plain.usage.prompt_tokens > 0);
  assert.ok(plain.localm.backend);
  assert.ok(plain.localm.timings.decode_tps > 0);

  const stream = await client.chat.completions.create({
    model: MODEL, messages, temperature: 0, max_tokens: 24, stream: true,
    stream_options: { include_usage: true },
  });
  let assembled = "", chunks = 0, usage = null, finish = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    const c = chunk.choices[0];
    if (!c) continue;
    if (c.delta.content) { assembled += c.delta.content; chunks++; }
    if (c.finish_reason) finish = c.finish_reason;
  }
  assert.equal(assembled, text);
  assert.ok(chunks > 1, "text arrived in several chunks");
  assert.ok(["stop", "length"].includes(finish));
  assert.ok(usage, "include_usage adds a usage chunk");
  assert.equal(usage.completion_tokens, plain.usage.completion_tokens);
  assert.equal(usage.prompt_tokens, plain.usage.prompt_tokens);
});

test("logprobs with top_logprobs: greedy picks the most likely alternative", { skip: !modelPath }, async () => {
  const r = await client.chat.completions.create({
    model: MODEL, messages, temperature: 0, max_tokens: 6, logprobs: true, top_logprobs: 3 });
  const content = r.choices[0].logprobs.content;
  assert.ok(content.length > 0);
  assert.equal(content.map((c) => c.token).join(""), r.choices[0].message.content);
  for (const c of content) {
    assert.equal(c.top_logprobs.length, 3);
    assert.equal(c.top_logprobs[0].token, c.token);
    assert.ok(Math.abs(c.top_logprobs[0].logprob - c.logprob) < 1e-4);
    for (let i = 1; i < 3; i++) assert.ok(c.top_logprobs[i].logprob <= c.top_logprobs[i - 1].logprob);
    const mass = c.top_logprobs.reduce((a, t) => a + Math.exp(t.logprob), 0);
    assert.ok(mass <= 1.0001 && mass > 0);
  }
});

test("completions endpoint", { skip: !modelPath }, async () => {
  const r = await client.completions.create({ model: MODEL, prompt: "The jury said", max_tokens: 8, temperature: 0 });
  assert.equal(r.object, "text_completion");
  assert.ok(r.choices[0].text.length > 0);
});

test("stop strings end the answer before them", { skip: !modelPath }, async () => {
  const base = await client.chat.completions.create({ model: MODEL, messages, temperature: 0, max_tokens: 32 });
  const text = base.choices[0].message.content;
  // Stop at a word from the middle of the unconstrained answer.
  const words = text.trim().split(/\s+/);
  assert.ok(words.length >= 3, `answer too short to test stop: ${JSON.stringify(text)}`);
  const stopWord = words[Math.floor(words.length / 2)];
  const r = await client.chat.completions.create({ model: MODEL, messages, temperature: 0, max_tokens: 32, stop: [stopWord] });
  const cut = r.choices[0].message.content;
  assert.equal(r.choices[0].finish_reason, "stop");
  assert.ok(!cut.includes(stopWord), `${JSON.stringify(cut)} contains ${stopWord}`);
  assert.equal(cut, text.slice(0, text.indexOf(stopWord)));
});

test("the same seed gives the same text", { skip: !modelPath }, async () => {
  const ask = (seed) => client.chat.completions.create({ model: MODEL, messages, temperature: 1.0, max_tokens: 24, seed });
  const a = await ask(1234), b = await ask(1234);
  assert.equal(a.choices[0].message.content, b.choices[0].message.content);
});

test("aborting a stream mid-way leaves the server serving", { skip: !modelPath }, async () => {
  const ac = new AbortController();
  const stream = await client.chat.completions.create(
    { model: MODEL, messages, temperature: 0, max_tokens: 400, stream: true },
    { signal: ac.signal });
  let n = 0, aborted = false, finished = false;
  try {
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta?.content) n++;
      if (chunk.choices[0]?.finish_reason) finished = true;
      if (n === 3 && !aborted) { aborted = true; ac.abort(); }
    }
  } catch (e) {
    assert.ok(aborted, `unexpected error: ${e}`);
  }
  assert.ok(aborted && !finished, "the stream was cut before its end");
  // The server cancels that generation (nothing else) and answers the next request.
  const r = await client.chat.completions.create({ model: MODEL, messages, temperature: 0, max_tokens: 8 });
  assert.ok(r.choices[0].message.content.length > 0);
  let active = -1;
  for (let i = 0; i < 50 && active !== 0; i++) {
    const m = await (await fetch(`${srv.url}/metrics`)).text();
    active = Number(m.match(/^localm_streams_active (\d+)/m)[1]);
    if (active) await new Promise((res) => setTimeout(res, 100));
  }
  assert.equal(active, 0, "the aborted stream was cancelled");
});

test("an unknown model is a 404 in the OpenAI error shape", { skip: !modelPath }, async () => {
  await assert.rejects(
    client.chat.completions.create({ model: "no-such-model", messages }),
    (e) => {
      assert.ok(e instanceof OpenAI.NotFoundError);
      assert.equal(e.status, 404);
      assert.equal(e.code, "model_not_found");
      assert.equal(e.type, "invalid_request_error");
      assert.match(e.message, /no-such-model/);
      return true;
    });
});

test("a wrong API key is a 401", { skip: !modelPath }, async () => {
  const keyed = await startServer([modelPath, "--threads", "2", "--api-key", "sekrit"]);
  try {
    const bad = new OpenAI({ baseURL: `${keyed.url}/v1`, apiKey: "wrong", maxRetries: 0 });
    await assert.rejects(bad.models.list(), (e) => {
      assert.ok(e instanceof OpenAI.AuthenticationError);
      assert.equal(e.status, 401);
      assert.equal(e.code, "invalid_api_key");
      return true;
    });
    const good = new OpenAI({ baseURL: `${keyed.url}/v1`, apiKey: "sekrit", maxRetries: 0 });
    assert.ok((await good.models.list()).data.length > 0);
  } finally {
    assert.equal(await keyed.stop(), 0);
  }
});
