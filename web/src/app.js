// app.js — the LocalM chat page: model picker and loading, streamed answers
// rendered as sanitised Markdown, stop, backend badge, per-answer speed, and
// conversations kept in this browser (localStorage).
import { marked } from "marked";
import DOMPurify from "dompurify";

const $ = (id) => document.getElementById(id);
const STORE = "localm.conversations.v1";

const state = {
  models: [],
  loaded: null, // {id, backend, fallback}
  conversations: JSON.parse(localStorage.getItem(STORE) || "[]"),
  current: null,
  abort: null,
};

function save() {
  localStorage.setItem(STORE, JSON.stringify(state.conversations));
}

function fmtBytes(n) {
  if (!n) return "";
  const u = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(n < 10 && i ? 1 : 0)} ${u[i]}`;
}

function renderMarkdown(el, text) {
  el.innerHTML = DOMPurify.sanitize(marked.parse(text, { gfm: true, breaks: true }));
}

// Reads a fetch Response as Server-Sent Events, calling onEvent(json) for each
// `data:` line until `[DONE]` or the end of the body.
async function readSSE(resp, onEvent) {
  const reader = resp.body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      for (const line of block.split("\n")) {
        if (!line.startsWith("data:")) continue;
        const data = line.slice(5).trim();
        if (data === "[DONE]") return;
        onEvent(JSON.parse(data));
      }
    }
  }
}

async function apiError(resp) {
  try {
    const j = await resp.json();
    return j.error ? j.error.message : resp.statusText;
  } catch {
    return `${resp.status} ${resp.statusText}`;
  }
}

function setBadge(backend, fallback) {
  const b = $("badge");
  b.hidden = false;
  const reasons = (fallback || []).join("; ");
  b.textContent = reasons ? `backend: ${backend} (${reasons})` : `backend: ${backend}`;
  b.classList.toggle("fallback", !!reasons);
  b.title = reasons || `running on ${backend}`;
}

async function loadModels() {
  const resp = await fetch("/v1/models");
  if (!resp.ok) throw new Error(await apiError(resp));
  const j = await resp.json();
  state.models = j.data;
  const sel = $("model-picker");
  sel.innerHTML = "";
  for (const m of j.data) {
    const x = m.localm || {};
    const opt = document.createElement("option");
    opt.value = m.id;
    const backs = Object.entries(x.backends || {})
      .filter(([, v]) => v.supported).map(([k]) => k).join("/");
    const where = x.loaded ? "loaded" : x.on_disk ? "on disk" : "not downloaded";
    opt.textContent = `${x.name || m.id} — ${fmtBytes(x.size_bytes)} ${backs ? "· " + backs : ""} · ${where}`;
    sel.appendChild(opt);
    if (x.loaded && !state.loaded) {
      state.loaded = { id: m.id, backend: x.backend, fallback: x.fallback || [] };
      sel.value = m.id;
    }
  }
  if (state.loaded) setBadge(state.loaded.backend, state.loaded.fallback);
  showModelInfo();
}

function showModelInfo() {
  const m = state.models.find((x) => x.id === $("model-picker").value);
  const x = (m && m.localm) || {};
  $("model-info").textContent = m
    ? [x.architecture, x.parameters, x.license, x.notes].filter(Boolean).join(" · ")
    : "";
}

async function loadSelected() {
  const id = $("model-picker").value;
  if (!id) return;
  const m = state.models.find((x) => x.id === id);
  $("load-progress").hidden = false;
  $("load-model").disabled = true;
  const bar = $("progress-bar"), txt = $("progress-text");
  try {
    const needPull = m && m.localm && !m.localm.on_disk && m.localm.source === "catalog";
    if (needPull) await streamProgress("/v1/models/pull", id, bar, txt);
    const done = await streamProgress("/v1/models/load", id, bar, txt);
    state.loaded = { id, backend: done.backend, fallback: done.fallback || [] };
    setBadge(done.backend, done.fallback);
    await loadModels();
  } catch (e) {
    addMessage("error", `Loading ${id} failed: ${e.message}`);
  } finally {
    $("load-progress").hidden = true;
    $("load-model").disabled = false;
  }
}

async function streamProgress(url, id, bar, txt) {
  const resp = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ model: id }),
  });
  if (!resp.ok) throw new Error(await apiError(resp));
  let last = null;
  await readSSE(resp, (ev) => {
    if (ev.error) throw new Error(ev.error.message);
    if (ev.phase) {
      bar.max = ev.total || 1;
      bar.value = ev.total ? ev.done : 0;
      const pct = ev.total ? ` ${Math.round((100 * ev.done) / ev.total)}%` : "";
      txt.textContent = `${ev.phase}${pct} ${ev.text || ""}`;
    }
    last = ev;
  });
  return last || {};
}

function addMessage(role, text) {
  const el = document.createElement("div");
  el.className = `msg ${role}`;
  const body = document.createElement("div");
  el.appendChild(body);
  if (role === "assistant") renderMarkdown(body, text);
  else body.textContent = text;
  $("messages").appendChild(el);
  $("messages").scrollTop = $("messages").scrollHeight;
  return { el, body };
}

function addStats(el, text) {
  const s = document.createElement("div");
  s.className = "stats";
  s.textContent = text;
  el.appendChild(s);
}

function newConversation() {
  const c = { id: Date.now().toString(36), title: "New chat", messages: [] };
  state.conversations.unshift(c);
  state.current = c;
  save();
  renderConversations();
  renderMessages();
}

function renderConversations() {
  const ul = $("conversations");
  ul.innerHTML = "";
  for (const c of state.conversations) {
    const li = document.createElement("li");
    li.textContent = c.title;
    li.classList.toggle("active", c === state.current);
    li.onclick = () => { state.current = c; renderConversations(); renderMessages(); };
    ul.appendChild(li);
  }
}

function renderMessages() {
  $("messages").innerHTML = "";
  for (const m of state.current ? state.current.messages : []) {
    const { el } = addMessage(m.role, m.content);
    if (m.stats) addStats(el, m.stats);
  }
}

async function send(text) {
  if (!state.current) newConversation();
  const conv = state.current;
  conv.messages.push({ role: "user", content: text });
  if (conv.title === "New chat") conv.title = text.slice(0, 40);
  save();
  renderConversations();
  addMessage("user", text);
  const { el, body } = addMessage("assistant", "");
  let answer = "";
  state.abort = new AbortController();
  $("stop").disabled = false;
  $("send").disabled = true;
  let final = null;
  try {
    const resp = await fetch("/v1/chat/completions", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      signal: state.abort.signal,
      body: JSON.stringify({
        model: $("model-picker").value,
        stream: true,
        stream_options: { include_usage: true },
        messages: conv.messages.map(({ role, content }) => ({ role, content })),
      }),
    });
    if (!resp.ok) throw new Error(await apiError(resp));
    const backend = resp.headers.get("x-localm-backend");
    if (backend) setBadge(backend, state.loaded ? state.loaded.fallback : []);
    await readSSE(resp, (chunk) => {
      if (chunk.error) throw new Error(chunk.error.message);
      const delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
      if (delta && delta.content) {
        answer += delta.content;
        renderMarkdown(body, answer);
        $("messages").scrollTop = $("messages").scrollHeight;
      }
      if (chunk.localm) final = chunk.localm;
    });
  } catch (e) {
    if (e.name !== "AbortError") {
      el.classList.add("error");
      answer += `\n\n[error: ${e.message}]`;
      renderMarkdown(body, answer);
    } else {
      answer += " [stopped]";
      renderMarkdown(body, answer);
    }
  } finally {
    $("stop").disabled = true;
    $("send").disabled = false;
    state.abort = null;
  }
  let stats = "";
  if (final && final.timings) {
    const t = final.timings;
    stats = `${final.backend} · prefill ${t.prefill_tps.toFixed(1)} t/s · decode ${t.decode_tps.toFixed(1)} t/s · ${t.completion_tokens} tokens`;
    if (final.fallback && final.fallback.length) setBadge(final.backend, final.fallback);
    addStats(el, stats);
  }
  conv.messages.push({ role: "assistant", content: answer, stats });
  save();
}

$("composer").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("input").value.trim();
  if (!text || state.abort) return;
  $("input").value = "";
  send(text);
});
$("input").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) {
    e.preventDefault();
    $("composer").requestSubmit();
  }
});
$("stop").addEventListener("click", () => state.abort && state.abort.abort());
$("load-model").addEventListener("click", loadSelected);
$("model-picker").addEventListener("change", showModelInfo);
$("new-chat").addEventListener("click", newConversation);

state.current = state.conversations[0] || null;
renderConversations();
renderMessages();
loadModels().catch((e) => addMessage("error", `Cannot list models: ${e.message}`));
