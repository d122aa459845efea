"""check_gguf.py - reads a GGUF file written by gguf_export.py back with a
separate minimal parser, runs the llama forward pass in NumPy the way GGUF
`llama` files are meant to be run (adjacent-pair RoPE on the permuted Q/K
rows), and compares with the PyTorch references in the refs JSON.

    python3 check_gguf.py models/localm-demo.gguf models/localm-demo.json"""
import json
import struct
import sys

import numpy as np

SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


def read_gguf(path):
    buf = open(path, "rb").read()
    pos = 0

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from("<" + fmt, buf, pos)
        pos += struct.calcsize("<" + fmt)
        return v[0]

    def string():
        nonlocal pos
        n = take("Q")
        s = buf[pos:pos + n].decode("utf-8")
        pos += n
        return s

    def value(t):
        if t == 8:
            return string()
        if t == 9:
            et, n = take("I"), take("Q")
            return [value(et) for _ in range(n)]
        return take(SCALARS[t])

    assert buf[:4] == b"GGUF"
    pos = 4
    version, n_t, n_kv = take("I"), take("Q"), take("Q")
    assert version == 3
    meta = {}
    for _ in range(n_kv):
        k = string()
        meta[k] = value(take("I"))
    infos = []
    for _ in range(n_t):
        name = string()
        nd = take("I")
        dims = [take("Q") for _ in range(nd)]
        infos.append((name, dims, take("I"), take("Q")))
    align = meta.get("general.alignment", 32)
    base = pos + (-pos) % align
    tensors = {}
    for name, dims, t, off in infos:
        dt = {0: "<f4", 1: "<f2"}[t]
        n = int(np.prod(dims))
        a = np.frombuffer(buf, dtype=dt, count=n, offset=base + off).astype(np.float32)
        tensors[name] = a.reshape(list(reversed(dims)))
    return meta, tensors


def forward(meta, W, ids):
    d = meta["llama.embedding_length"]
    nh, nkv = meta["llama.attention.head_count"], meta["llama.attention.head_count_kv"]
    hd, eps = d // nh, meta["llama.attention.layer_norm_rms_epsilon"]
    theta = meta["llama.rope.freq_base"]
    T = len(ids)
    x = W["token_embd.weight"][ids].astype(np.float64)
    inv = theta ** (-np.arange(0, hd, 2) / hd)
    ang = np.outer(np.arange(T), inv)
    cos, sin = np.cos(ang), np.sin(ang)

    def norm(v, w):
        return v / np.sqrt((v * v).mean(-1, keepdims=True) + eps) * w

    def rope(v):  # v: T, heads, hd with adjacent pairs (2i, 2i+1)
        a, b = v[..., 0::2], v[..., 1::2]
        c, s = cos[:, None, :], sin[:, None, :]
        out = np.empty_like(v)
        out[..., 0::2] = a * c - b * s
        out[..., 1::2] = a * s + b * c
        return out

    mask = np.triu(np.full((T, T), -np.inf), 1)
    for i in range(meta["llama.block_count"]):
        p = f"blk.{i}."
        h = norm(x, W[p + "attn_norm.weight"])
        q = rope((h @ W[p + "attn_q.weight"].T).reshape(T, nh, hd))
        k = rope((h @ W[p + "attn_k.weight"].T).reshape(T, nkv, hd))
        v = (h @ W[p + "attn_v.weight"].T).reshape(T, nkv, hd)
        outs = []
        for j in range(nh):
            kv = j // (nh // nkv)
            s = q[:, j] @ k[:, kv].T / np.sqrt(hd) + mask
            s = np.exp(s - s.max(-1, keepdims=True))
            outs.append((s / s.sum(-1, keepdims=True)) @ v[:, kv])
        x = x + np.concatenate(outs, -1) @ W[p + "attn_output.weight"].T
        h = norm(x, W[p + "ffn_norm.weight"])
        g = h @ W[p + "ffn_gate.weight"].T
        x = x + ((g / (1 + np.exp(-g))) * (h @ W[p + "ffn_up.weight"].T)) @ W[p + "ffn_down.weight"].T
    return norm(x, W["output_norm.weight"]) @ W["output.weight"].T


def main():
    meta, W = read_gguf(sys.argv[1])
    refs = json.load(open(sys.argv[2]))
    ok = True
    for p in refs["prompts"]:
        lo = forward(meta, W, p["ids"])[-1]
        err = np.abs(lo - np.array(p["last_logits"])).max()
        print(f"prompt {p['prompt'][:40]!r}: max |logit diff| {err:.2e}")
        ok &= err < 1e-2
    tot, cnt = 0.0, 0
    for e in refs["heldout"]["examples"][:40]:
        ids = e["prompt_ids"] + e["answer_ids"]
        lo = forward(meta, W, ids)
        lo = lo - lo.max(-1, keepdims=True)
        lp = lo - np.log(np.exp(lo).sum(-1, keepdims=True))
        n0 = len(e["prompt_ids"])
        for t in range(n0, len(ids)):
            tot -= lp[t - 1, ids[t]]
            cnt += 1
    ref = refs["heldout"]["examples"][:40]
    ref_tot = sum(e["nll"] * len(e["answer_ids"]) for e in ref) / sum(len(e["answer_ids"]) for e in ref)
    print(f"held-out NLL (first 40): numpy {tot / cnt:.5f} vs PyTorch {ref_tot:.5f}")
    ok &= abs(tot / cnt - ref_tot) < 2e-3
    print("OK" if ok else "MISMATCH")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
