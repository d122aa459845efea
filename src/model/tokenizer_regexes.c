/* tokenizer_regexes.c — the pre-tokenizer regexes that GGUF files name in
 * tokenizer.ggml.pre (each list splits the text in order, every match kept as
 * its own piece), taken from the pre_tokenizer sections of the models'
 * tokenizer.json files. */
#include "model/tokenizer_impl.h"
#include <string.h>

#define GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
#define GPT2_NO_TAIL "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define LLAMA3                                                                                     \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "                     \
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define QWEN2                                                                                      \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "                          \
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define UPPER "[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]"
#define LOWER "[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]"
#define CONTR "(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
#define GPT4O                                                                                      \
    "[^\\r\\n\\p{L}\\p{N}]?" UPPER "*" LOWER "+" CONTR "|[^\\r\\n\\p{L}\\p{N}]?" UPPER "+" LOWER   \
    "*" CONTR "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define TEKKEN                                                                                     \
    "[^\\r\\n\\p{L}\\p{N}]?" UPPER "*" LOWER "+|[^\\r\\n\\p{L}\\p{N}]?" UPPER "+" LOWER            \
    "*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define BLOOM " ?[^(\\s|.,!?…。，、।۔،)]+"
#define CJK "[一-龥ࠀ-一가-퟿]+"

static const char *const p_gpt2[] = {GPT2};
static const char *const p_llama3[] = {LLAMA3};
static const char *const p_qwen2[] = {QWEN2};
static const char *const p_digit_gpt2[] = {"\\p{N}", GPT2};
static const char *const p_no_tail[] = {GPT2_NO_TAIL};
static const char *const p_falcon[] = {"[\\p{P}\\$\\+<=>\\^~\\|`]+", GPT2, "[0-9][0-9][0-9]"};
static const char *const p_deepseek_coder[] = {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", CJK,
                                               "\\p{N}"};
/* Cased letters of the DeepSeek LLM tokenizer; three Greek Extended range ends
 * are escaped so that normalisation of this source cannot reverse a range. */
#define DEEPSEEK_CASED                                                                                                                                                                     \
    "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-"                                                 \
    "ᴫᵫ-ᵷᵹ-ᶚḀ-"                                                                                                                                                                \
    "ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\\x{1F7D}ᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-\\x{1FD3}ῖ-\\x{1FDB}ῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-" \
    "ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-"                                 \
    "𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+"
static const char *const p_deepseek_llm[] = {
    "[\\r\\n]", DEEPSEEK_CASED, "\\s?[!-/:-~！-／：-～‘-‟　-。]+", "\\s+$", CJK, "\\p{N}+",
};
#define DEEPSEEK3_WORDS                                                                            \
    "[!\"#$%&'()*+,\\-./"                                                                          \
    ":;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| "             \
    "?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
static const char *const p_deepseek3[] = {"\\p{N}{1,3}", "[一-龥぀-ゟ゠-ヿ]+",
                                          DEEPSEEK3_WORDS};
static const char *const p_gpt4o[] = {GPT4O};
static const char *const p_tekken[] = {TEKKEN};
static const char *const p_bloom[] = {BLOOM};
static const char *const p_viking[] = {BLOOM, "\\p{N}"};

#define LIST(p) p, sizeof p / sizeof p[0]
static const struct {
    const char *name;
    const char *const *pats;
    size_t n;
} names[] = {
    {"default", LIST(p_gpt2)},
    {"gpt-2", LIST(p_gpt2)},
    {"gpt2", LIST(p_gpt2)},
    {"roberta-bpe", LIST(p_gpt2)},
    {"llama-bpe", LIST(p_llama3)},
    {"llama3", LIST(p_llama3)},
    {"llama-v3", LIST(p_llama3)},
    {"dbrx", LIST(p_llama3)},
    {"smaug-bpe", LIST(p_llama3)},
    {"chatglm-bpe", LIST(p_llama3)},
    {"qwen2", LIST(p_qwen2)},
    {"stablelm2", LIST(p_qwen2)},
    {"deepseek-r1-qwen", LIST(p_qwen2)},
    {"hunyuan", LIST(p_qwen2)},
    {"megrez", LIST(p_qwen2)},
    {"starcoder", LIST(p_digit_gpt2)},
    {"refact", LIST(p_digit_gpt2)},
    {"command-r", LIST(p_digit_gpt2)},
    {"smollm", LIST(p_digit_gpt2)},
    {"codeshell", LIST(p_digit_gpt2)},
    {"exaone", LIST(p_digit_gpt2)},
    {"minerva-7b", LIST(p_digit_gpt2)},
    {"mpt", LIST(p_no_tail)},
    {"olmo", LIST(p_no_tail)},
    {"jais", LIST(p_no_tail)},
    {"falcon", LIST(p_falcon)},
    {"deepseek-llm", LIST(p_deepseek_llm)},
    {"deepseek-coder", LIST(p_deepseek_coder)},
    {"deepseek-v3", LIST(p_deepseek3)},
    {"gpt-4o", LIST(p_gpt4o)},
    {"chameleon", LIST(p_gpt4o)},
    {"tekken", LIST(p_tekken)},
    {"poro", LIST(p_bloom)},
    {"bloom", LIST(p_bloom)},
    {"gpt3-finnish", LIST(p_bloom)},
    {"viking", LIST(p_viking)},
};

bool tk_pre_for_name(const char *name, const char *const **pats, size_t *n) {
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!strcmp(names[i].name, name)) {
            *pats = names[i].pats;
            *n = names[i].n;
            return true;
        }
    }
    *pats = p_gpt2;
    *n = 1;
    return false;
}
