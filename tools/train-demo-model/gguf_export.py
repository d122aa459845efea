"""gguf_export.py - writes the demo model as a GGUF v3 file, from the format's
specification: header, metadata key/values, tensor infos, aligned tensor data.

Conventions followed so LocalM reads it like any llama GGUF: llama.* keys,
llama.cpp tensor names, dims listed innermost first (ne[0] = row length),
1-D tensors in F32, matrices in F16, and Q/K rows permuted from the
half-split RoPE pairing the model was trained with to the adjacent pairing
that GGUF `llama` files use."""
import struct

import numpy as np

ALIGN = 32
T_U8, T_I8, T_U16, T_I16, T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR, T_U64, T_I64, T_F64 = range(13)
GGML_F32, GGML_F16 = 0, 1
TOKEN_NORMAL, TOKEN_CONTROL = 1, 3

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")


def _str(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def _value(vtype, v):
    if vtype == T_STR:
        return _str(v)
    fmt = {T_U8: "B", T_I8: "b", T_U16: "H", T_I16: "h", T_U32: "I", T_I32: "i",
           T_F32: "f", T_BOOL: "?", T_U64: "Q", T_I64: "q", T_F64: "d"}[vtype]
    return struct.pack("<" + fmt, v)


def _kv(key, vtype, v, elem=None):
    out = _str(key) + struct.pack("<I", vtype)
    if vtype == T_ARR:
        out += struct.pack("<IQ", elem, len(v))
        if elem == T_I32:
            out += np.asarray(v, dtype="<i4").tobytes()
        else:
            out += b"".join(_value(elem, x) for x in v)
    else:
        out += _value(vtype, v)
    return out


def permute_rope(w, n_head):
    """Rows of each head go from [x0..x(d/2-1), y0..y(d/2-1)] (half split) to
    [x0, y0, x1, y1, ...] (adjacent pairs)."""
    rows, cols = w.shape
    return w.reshape(n_head, 2, rows // n_head // 2, cols).swapaxes(1, 2).reshape(rows, cols)


def tensors_from_state(sd, cfg):
    """(gguf name, numpy array) in file order from the PyTorch state dict."""
    g = lambda k: sd[k].detach().float().cpu().numpy()
    out = [("token_embd.weight", g("tok_embd.weight"))]
    for i in range(cfg.n_layers):
        p = f"blocks.{i}."
        out += [
            (f"blk.{i}.attn_norm.weight", g(p + "attn_norm.weight")),
            (f"blk.{i}.attn_q.weight", permute_rope(g(p + "wq.weight"), cfg.n_heads)),
            (f"blk.{i}.attn_k.weight", permute_rope(g(p + "wk.weight"), cfg.n_kv_heads)),
            (f"blk.{i}.attn_v.weight", g(p + "wv.weight")),
            (f"blk.{i}.attn_output.weight", g(p + "wo.weight")),
            (f"blk.{i}.ffn_norm.weight", g(p + "ffn_norm.weight")),
            (f"blk.{i}.ffn_gate.weight", g(p + "w_gate.weight")),
            (f"blk.{i}.ffn_up.weight", g(p + "w_up.weight")),
            (f"blk.{i}.ffn_down.weight", g(p + "w_down.weight")),
        ]
    out += [("output_norm.weight", g("norm.weight")), ("output.weight", g("output.weight"))]
    return out


def write_gguf(path, sd, cfg, tokens, merges, name="LocalM demo"):
    specials = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"}
    tid = {t: i for i, t in enumerate(tokens)}
    kvs = [
        _kv("general.architecture", T_STR, "llama"),
        _kv("general.name", T_STR, name),
        _kv("general.license", T_STR, "code: LocalM project; data: WordNet 3.0 license, Brown corpus (redistribution permitted)"),
        _kv("general.file_type", T_U32, 1),  # mostly F16
        _kv("general.alignment", T_U32, ALIGN),
        _kv("llama.vocab_size", T_U32, cfg.vocab),
        _kv("llama.context_length", T_U32, cfg.ctx),
        _kv("llama.embedding_length", T_U32, cfg.dim),
        _kv("llama.block_count", T_U32, cfg.n_layers),
        _kv("llama.feed_forward_length", T_U32, cfg.ffn),
        _kv("llama.attention.head_count", T_U32, cfg.n_heads),
        _kv("llama.attention.head_count_kv", T_U32, cfg.n_kv_heads),
        _kv("llama.rope.dimension_count", T_U32, cfg.head_dim),
        _kv("llama.rope.freq_base", T_F32, cfg.rope_theta),
        _kv("llama.attention.layer_norm_rms_epsilon", T_F32, cfg.eps),
        _kv("tokenizer.ggml.model", T_STR, "gpt2"),
        _kv("tokenizer.ggml.pre", T_STR, "llama-bpe"),
        _kv("tokenizer.ggml.tokens", T_ARR, tokens, T_STR),
        _kv("tokenizer.ggml.token_type", T_ARR,
            [TOKEN_CONTROL if t in specials else TOKEN_NORMAL for t in tokens], T_I32),
        _kv("tokenizer.ggml.merges", T_ARR, [a + " " + b for a, b in merges], T_STR),
        _kv("tokenizer.ggml.bos_token_id", T_U32, tid["<|endoftext|>"]),
        _kv("tokenizer.ggml.eos_token_id", T_U32, tid["<|im_end|>"]),
        _kv("tokenizer.ggml.eot_token_id", T_U32, tid["<|im_end|>"]),
        _kv("tokenizer.ggml.padding_token_id", T_U32, tid["<|endoftext|>"]),
        _kv("tokenizer.ggml.add_bos_token", T_BOOL, False),
        _kv("tokenizer.ggml.add_eos_token", T_BOOL, False),
        _kv("tokenizer.chat_template", T_STR, CHAT_TEMPLATE),
    ]
    tensors = tensors_from_state(sd, cfg)
    infos, blobs, offset = [], [], 0
    for tname, arr in tensors:
        if arr.ndim == 1:
            data, gtype = arr.astype("<f4").tobytes(), GGML_F32
        else:
            data, gtype = arr.astype("<f2").tobytes(), GGML_F16
        dims = list(reversed(arr.shape))
        infos.append(_str(tname) + struct.pack("<I", len(dims)) +
                     b"".join(struct.pack("<Q", d) for d in dims) +
                     struct.pack("<IQ", gtype, offset))
        pad = (-len(data)) % ALIGN
        blobs.append(data + b"\0" * pad)
        offset += len(data) + pad
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)) + b"".join(kvs) + b"".join(infos)
    head += b"\0" * ((-len(head)) % ALIGN)
    with open(path, "wb") as f:
        f.write(head)
        for b in blobs:
            f.write(b)
    return len(head) + offset
