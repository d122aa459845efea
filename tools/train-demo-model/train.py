"""train.py - trains the demo model on the token streams prepare_data.py
wrote, then writes the GGUF file (gguf_export.py) and the reference outputs
LocalM's engine is checked against (refs JSON).

    python3 train.py --data DIR --out DIR [--minutes 3.5]

Reference outputs are computed in float32 (TF32 off) from exactly the weights
the GGUF file holds: matrices rounded to float16, norms kept in float32."""
import argparse
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

import bpe
import gguf_export
from model import Config, Llama


def log(f, *a):
    s = " ".join(str(x) for x in a)
    print(s, flush=True)
    f.write(s + "\n")
    f.flush()


def definition_nll(model, examples, dev, per_example=False):
    """Mean NLL (nats/token) of the answer tokens given the question, pooled
    over all answer tokens of all examples."""
    total, count, each = 0.0, 0, []
    for i in range(0, len(examples), 64):
        chunk = examples[i:i + 64]
        seqs = [e["prompt_ids"] + e["answer_ids"] for e in chunk]
        n = max(len(s) for s in seqs)
        x = torch.zeros(len(seqs), n, dtype=torch.long)
        for j, s in enumerate(seqs):
            x[j, :len(s)] = torch.tensor(s)
        logp = F.log_softmax(model(x.to(dev)).float(), -1).cpu()
        for j, e in enumerate(chunk):
            p, s = len(e["prompt_ids"]), seqs[j]
            tgt = torch.tensor(s[p:])
            lp = logp[j, p - 1:len(s) - 1].gather(1, tgt[:, None]).squeeze(1)
            total += -lp.sum().item()
            count += len(tgt)
            each.append(-lp.mean().item())
    return (total / count, each) if per_example else total / count


def stream_nll(model, data, ctx, dev):
    n = (len(data) - 1) // ctx
    x = data[:n * ctx].view(n, ctx).to(dev)
    y = data[1:n * ctx + 1].view(n, ctx).to(dev)
    tot = 0.0
    for i in range(0, n, 32):
        lo = model(x[i:i + 32]).float()
        tot += F.cross_entropy(lo.reshape(-1, lo.shape[-1]), y[i:i + 32].reshape(-1),
                               reduction="sum").item()
    return tot / (n * ctx)


@torch.no_grad()
def greedy(model, ids, n, dev, stop=None):
    ids, out, margins = list(ids), [], []
    for _ in range(n):
        lo = model(torch.tensor([ids], device=dev))[0, -1].float()
        top = torch.topk(lo, 2)
        t = int(top.indices[0])
        margins.append(float(top.values[0] - top.values[1]))
        out.append(t)
        ids.append(t)
        if stop is not None and t == stop:
            break
    return out, margins


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=3.5)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--max-steps", type=int, default=0)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--tiny", action="store_true", help="smoke test on the CPU")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    lf = open(os.path.join(args.out, "train.log"), "w")
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    cfg = Config(dim=64, n_layers=2, n_heads=2, n_kv_heads=1, ffn=128, ctx=128) if args.tiny else Config()
    cfg.dropout = args.dropout
    log(lf, f"torch {torch.__version__} device {dev}"
        f" {torch.cuda.get_device_name() if dev == 'cuda' else ''} cfg {cfg}")

    tokj = json.load(open(os.path.join(args.data, "tokenizer.json")))
    tok = bpe.Tokenizer(tokj["tokens"], [tuple(m) for m in tokj["merges"]])
    train = torch.from_numpy(np.fromfile(os.path.join(args.data, "train.bin"), np.uint16).astype(np.int64))
    val = torch.from_numpy(np.fromfile(os.path.join(args.data, "val.bin"), np.uint16).astype(np.int64))
    held = json.load(open(os.path.join(args.data, "heldout.json")))
    held_dev, held_test = held[:200], held[200:]
    pj = json.load(open(os.path.join(args.data, "prompts.json")))
    im_end = tok.ids["<|im_end|>"]
    train_gpu = train.to(dev)

    model = Llama(cfg).to(dev)
    n_params = sum(p.numel() for p in model.parameters())
    log(lf, f"params {n_params} train tokens {len(train)} val tokens {len(val)}")
    decay = [p for p in model.parameters() if p.dim() == 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": other, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), **({"fused": True} if dev == "cuda" else {}))
    if dev == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    budget = args.minutes * 60
    ar = torch.arange(cfg.ctx + 1, device=dev)
    gen = torch.Generator(device=dev)
    gen.manual_seed(0)
    warmup, total_steps, step, ema = 100, args.max_steps or 10 ** 9, 0, None
    t0 = time.time()
    while step < total_steps:
        if step == 50 and not args.max_steps:
            per = (time.time() - t0) / 50
            total_steps = max(200, int(budget / per * 0.92))
            log(lf, f"step time {per * 1000:.1f} ms -> {total_steps} steps")
        if step < warmup:
            lr = args.lr * (step + 1) / warmup
        else:
            frac = min(1.0, (step - warmup) / max(1, total_steps - warmup))
            lr = args.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        ix = torch.randint(len(train) - cfg.ctx - 1, (args.batch,), device=dev, generator=gen)
        xy = train_gpu[ix[:, None] + ar]
        with torch.autocast(device_type=dev, dtype=torch.bfloat16, enabled=dev == "cuda"):
            logits = model(xy[:, :-1])
        loss = F.cross_entropy(logits.float().reshape(-1, cfg.vocab), xy[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        step += 1
        if step % 250 == 0 or step == total_steps:
            model.eval()
            with torch.no_grad():
                dnll = definition_nll(model, held_dev, dev)
                vnll = stream_nll(model, val, cfg.ctx, dev)
                g, _ = greedy(model, pj["report_ids"][1], 48, dev, stop=im_end)
            model.train()
            log(lf, f"step {step} lr {lr:.2e} train {ema:.4f} brown-val {vnll:.4f}"
                f" heldout-dev-defs {dnll:.4f} t {time.time() - t0:.0f}s | {tok.decode(g)!r}")
    log(lf, f"trained {step} steps in {time.time() - t0:.0f}s")
    final_train_loss = ema

    # Round matrices to float16 exactly as the GGUF stores them. The final
    # model is kept: recalling the definitions of common (trained) words is
    # what the demo is for; held-out NLL measures how it copes with others.
    model = model.float().eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.copy_(p.half().float())
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    with torch.no_grad():
        test_nll, each = definition_nll(model, held_test, dev, per_example=True)
        dev_nll = definition_nll(model, held_dev, dev)
        vnll = stream_nll(model, val, cfg.ctx, dev)
    log(lf, f"f16 weights, fp32 math: heldout-test-defs {test_nll:.5f} dev {dev_nll:.5f} brown-val {vnll:.5f}")

    prompts = []
    for text, ids in zip(pj["refs"], pj["refs_ids"]):
        with torch.no_grad():
            lo = model(torch.tensor([ids], device=dev))[0, -1].float().cpu()
        g, m = greedy(model, ids, 32, dev)
        prompts.append({"prompt": text, "ids": ids, "greedy": g, "greedy_margins": m,
                        "greedy_text": tok.decode(g),
                        "last_logits": [round(float(v), 6) for v in lo],
                        "last_top10": torch.topk(lo, 10).indices.tolist()})
        log(lf, f"prompt {text!r} -> {tok.decode(g)!r}")
    answers = []
    for w, ids in zip(pj["report_words"], pj["report_ids"]):
        g, _ = greedy(model, ids, 96, dev, stop=im_end)
        text = tok.decode([t for t in g if t != im_end])
        answers.append({"word": w, "held_out": any(e["word"] == w for e in held), "answer": text})
        log(lf, f"Q: What does '{w}' mean?  A: {text}")

    sd = model.state_dict()
    size = gguf_export.write_gguf(os.path.join(args.out, "localm-demo.gguf"), sd, cfg,
                                  tokj["tokens"], [tuple(m) for m in tokj["merges"]])
    log(lf, f"gguf bytes {size}")
    refs = {
        "about": "Reference outputs of models/localm-demo.gguf computed by PyTorch in float32 "
                 "(TF32 off) from the float16 weights in the file; see tools/train-demo-model.",
        "config": {"n_vocab": cfg.vocab, "n_embd": cfg.dim, "n_layer": cfg.n_layers,
                   "n_head": cfg.n_heads, "n_head_kv": cfg.n_kv_heads, "n_ff": cfg.ffn,
                   "n_ctx_train": cfg.ctx, "rope_theta": cfg.rope_theta, "norm_eps": cfg.eps,
                   "n_params": n_params},
        "training": {"steps": step, "batch": args.batch, "ctx": cfg.ctx, "dropout": cfg.dropout, "final_train_loss": final_train_loss,
                     "brown_val_nll": vnll, "heldout_dev_nll": dev_nll,
                     "torch": torch.__version__,
                     "device": torch.cuda.get_device_name() if dev == "cuda" else "cpu"},
        "heldout": {
            "question": "What does '{w}' mean?",
            "what": "mean NLL (nats/token) of the answer tokens (definition + <|im_end|>) given "
                    "prompt_ids, pooled over all answer tokens of all examples",
            "mean_nll": test_nll,
            "nll_threshold": round(test_nll + 0.1, 2),
            "examples": [{"word": e["word"], "prompt_ids": e["prompt_ids"],
                          "answer_ids": e["answer_ids"], "nll": round(n, 6)}
                         for e, n in zip(held_test, each)],
        },
        "prompts": prompts,
        "answers": answers,
    }
    with open(os.path.join(args.out, "localm-demo.json"), "w") as f:
        json.dump(refs, f, separators=(",", ":"))
    log(lf, "done")


if __name__ == "__main__":
    main()
