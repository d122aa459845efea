"""bpe.py - our own byte-level BPE: GPT-2 byte map, Llama-3 style pre-tokenizer,
training by greedy pair merging, and encoding by merge rank.

The pre-tokenizer is the one GGUF calls `llama-bpe`, so LocalM's tokenizer
(which implements that pre-tokenizer for Llama 3 files) splits text exactly as
this trainer did.
"""
import collections
import re

try:  # needed to encode text; decoding and the GPU machine do without it
    import regex
except ImportError:
    regex = None

# Llama-3 pre-tokenizer pattern (GGUF tokenizer.ggml.pre = "llama-bpe").
PRETOK = regex.compile(
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+") if regex else None

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
SPECIAL_RE = re.compile("(" + "|".join(re.escape(s) for s in SPECIALS) + ")")


def bytes_to_unicode():
    """GPT-2's reversible map from bytes to printable code points: printable
    Latin-1 bytes map to themselves, the rest to 256 + n in byte order."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + \
        list(range(0xAE, 0xFF + 1))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


BYTE_MAP = bytes_to_unicode()


def to_symbols(piece):
    return tuple(BYTE_MAP[b] for b in piece.encode("utf-8"))


def pretokenize(text):
    return PRETOK.findall(text)


def train(texts, vocab_size, log=print):
    """Learns vocab_size - 256 - len(SPECIALS) merges from an iterable of
    texts. Returns (tokens, merges): tokens[i] is the stored (byte-mapped)
    text of id i, merges are (a, b) pairs in rank order."""
    word_counts = collections.Counter()
    for t in texts:
        for seg in SPECIAL_RE.split(t):
            if seg in SPECIALS or not seg:
                continue
            word_counts.update(pretokenize(seg))
    words = [list(to_symbols(w)) for w in word_counts]
    counts = [word_counts[w] for w in word_counts]
    log(f"bpe: {len(words)} distinct pre-tokens")

    pair_counts = collections.Counter()
    where = collections.defaultdict(set)  # pair -> word indices holding it
    for i, w in enumerate(words):
        for a, b in zip(w, w[1:]):
            pair_counts[(a, b)] += counts[i]
            where[(a, b)].add(i)

    n_merges = vocab_size - 256 - len(SPECIALS)
    merges = []
    while len(merges) < n_merges and pair_counts:
        # Highest count; ties broken by the pair itself so runs are reproducible.
        best = max(pair_counts.items(), key=lambda kv: (kv[1], kv[0]))[0]
        if pair_counts[best] < 2:
            break
        merges.append(best)
        joined = best[0] + best[1]
        for i in list(where[best]):
            w, c = words[i], counts[i]
            for a, b in zip(w, w[1:]):
                pair_counts[(a, b)] -= c
                if pair_counts[(a, b)] <= 0:
                    del pair_counts[(a, b)]
            out, j = [], 0
            while j < len(w):
                if j + 1 < len(w) and w[j] == best[0] and w[j + 1] == best[1]:
                    out.append(joined)
                    j += 2
                else:
                    out.append(w[j])
                    j += 1
            words[i] = out
            for a, b in zip(out, out[1:]):
                pair_counts[(a, b)] += c
                where[(a, b)].add(i)
        del where[best]
        if len(merges) % 500 == 0:
            log(f"bpe: {len(merges)} merges")
    tokens = [BYTE_MAP[b] for b in range(256)] + [a + b for a, b in merges] + SPECIALS
    return tokens, merges


class Tokenizer:
    """Encodes with a learned vocabulary: specials matched first, then each
    pre-token merged by lowest rank until no ranked pair remains."""

    def __init__(self, tokens, merges):
        self.tokens = tokens
        self.ids = {t: i for i, t in enumerate(tokens)}
        self.ranks = {tuple(m): r for r, m in enumerate(merges)}
        self.cache = {}
        inv = {v: k for k, v in BYTE_MAP.items()}
        self.inv_byte = inv

    def _word(self, w):
        hit = self.cache.get(w)
        if hit is not None:
            return hit
        syms = list(to_symbols(w))
        while len(syms) > 1:
            best, best_rank = None, None
            for j in range(len(syms) - 1):
                r = self.ranks.get((syms[j], syms[j + 1]))
                if r is not None and (best_rank is None or r < best_rank):
                    best, best_rank = j, r
            if best is None:
                break
            syms[best:best + 2] = [syms[best] + syms[best + 1]]
        ids = [self.ids[s] for s in syms]
        self.cache[w] = ids
        return ids

    def encode(self, text):
        out = []
        for seg in SPECIAL_RE.split(text):
            if not seg:
                continue
            if seg in SPECIALS:
                out.append(self.ids[seg])
                continue
            for w in pretokenize(seg):
                out.extend(self._word(w))
        return out

    def decode(self, ids):
        parts = []
        for i in ids:
            t = self.tokens[i]
            if t in SPECIALS:
                parts.append(t.encode())
            else:
                parts.append(bytes(self.inv_byte[ch] for ch in t))
        return b"".join(parts).decode("utf-8", errors="replace")
