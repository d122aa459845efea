/* jinja_lexer.c — splits Jinja template source into text runs and tag tokens,
 * applying Jinja2's newline normalization, `-`/`+` whitespace control,
 * trim_blocks and lstrip_blocks exactly as its lexer does. */
#include "base/checked.h"
#include "model/jinja_internal.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct lexer {
    jarena *a;
    jenv *env;
    const char *s;
    size_t n, pos;
    size_t lc_pos; /* line/column tracking (monotonic) */
    int line, col;
    jtok *t;
    size_t nt, cap;
} lexer;

static void where(lexer *L, size_t pos, int *line, int *col) {
    if (pos < L->lc_pos) { /* rare: restart from the beginning */
        L->lc_pos = 0;
        L->line = 1;
        L->col = 1;
    }
    while (L->lc_pos < pos) {
        if (L->s[L->lc_pos++] == '\n') {
            L->line++;
            L->col = 1;
        } else if (((unsigned char)L->s[L->lc_pos - 1] & 0xC0) != 0x80) {
            L->col++;
        }
    }
    *line = L->line;
    *col = L->col;
}

static _Noreturn void lfail(lexer *L, size_t pos, const char *msg) {
    int line, col;
    where(L, pos, &line, &col);
    jthrow(L->env, line, col, "%s", msg);
}

static jtok *emit(lexer *L, int kind, size_t pos, const char *p, size_t n) {
    if (L->nt == L->cap) {
        size_t cap = L->cap ? L->cap * 2 : 256;
        L->t = ja_grow(L->a, L->t, L->nt * sizeof(jtok), cap * sizeof(jtok));
        L->cap = cap;
    }
    jtok *t = &L->t[L->nt++];
    memset(t, 0, sizeof *t);
    t->kind = (uint8_t)kind;
    where(L, pos, &t->line, &t->col);
    t->p = p;
    t->n = n;
    return t;
}

static bool is_ws(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Emits text [b, e) after whitespace control for a following tag of kind
 * `tag` ('{', '%', '#') with sign ('-', '+' or 0). */
static void emit_text(lexer *L, size_t b, size_t e, char tag, char sign, bool line_starting) {
    if (sign == '-') {
        while (e > b && is_ws(L->s[e - 1]))
            e--;
    } else if (sign != '+' && tag != '{') { /* lstrip_blocks */
        size_t l = e;
        while (l > b && L->s[l - 1] != '\n')
            l--;
        if (l > b || line_starting) {
            bool all_ws = l < e;
            for (size_t i = l; i < e; i++)
                if (!is_ws(L->s[i])) all_ws = false;
            if (all_ws) e = l;
        }
    }
    if (e > b) emit(L, T_TEXT, b, L->s + b, e - b);
}

static bool starts(lexer *L, size_t pos, const char *lit) {
    size_t k = strlen(lit);
    return pos <= L->n && L->n - pos >= k && memcmp(L->s + pos, lit, k) == 0;
}

static void put_utf8(jarena *a, jbuf *b, uint32_t cp) {
    char u[4];
    size_t k;
    if (cp < 0x80) {
        u[0] = (char)cp;
        k = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 63));
        k = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 63));
        u[2] = (char)(0x80 | (cp & 63));
        k = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 63));
        u[2] = (char)(0x80 | ((cp >> 6) & 63));
        u[3] = (char)(0x80 | (cp & 63));
        k = 4;
    }
    jb_put(a, b, u, k);
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes a string literal body [b, e) with Python's unicode-escape rules. */
static void lex_string_body(lexer *L, size_t b, size_t e, jtok *t) {
    jbuf out = {0};
    const char *s = L->s;
    for (size_t i = b; i < e;) {
        if (s[i] != '\\' || i + 1 >= e) {
            jb_putc(L->a, &out, s[i++]);
            continue;
        }
        char c = s[i + 1];
        i += 2;
        switch (c) {
        case '\n':
            break; /* line continuation */
        case '\\':
            jb_putc(L->a, &out, '\\');
            break;
        case '\'':
            jb_putc(L->a, &out, '\'');
            break;
        case '"':
            jb_putc(L->a, &out, '"');
            break;
        case 'a':
            jb_putc(L->a, &out, '\a');
            break;
        case 'b':
            jb_putc(L->a, &out, '\b');
            break;
        case 'f':
            jb_putc(L->a, &out, '\f');
            break;
        case 'n':
            jb_putc(L->a, &out, '\n');
            break;
        case 'r':
            jb_putc(L->a, &out, '\r');
            break;
        case 't':
            jb_putc(L->a, &out, '\t');
            break;
        case 'v':
            jb_putc(L->a, &out, '\v');
            break;
        case 'x':
        case 'u':
        case 'U': {
            int digits = c == 'x' ? 2 : c == 'u' ? 4 : 8;
            uint32_t cp = 0;
            for (int k = 0; k < digits; k++) {
                int h = i + (size_t)k < e ? hexval(s[i + k]) : -1;
                if (h < 0) lfail(L, i - 2, "truncated \\x, \\u or \\U escape in string literal");
                cp = cp * 16 + (uint32_t)h;
            }
            if (cp > 0x10FFFF) lfail(L, i - 2, "illegal Unicode character in string literal");
            i += (size_t)digits;
            put_utf8(L->a, &out, cp);
            break;
        }
        default:
            if (c >= '0' && c <= '7') {
                uint32_t cp = (uint32_t)(c - '0');
                for (int k = 0; k < 2 && i < e && s[i] >= '0' && s[i] <= '7'; k++)
                    cp = cp * 8 + (uint32_t)(s[i++] - '0');
                put_utf8(L->a, &out, cp);
            } else { /* unknown escapes stay as written */
                jb_putc(L->a, &out, '\\');
                jb_putc(L->a, &out, c);
            }
        }
    }
    t->p = out.p ? out.p : "";
    t->n = out.n;
}

/* Digits with optional single underscores between them; returns end. */
static size_t scan_digits(lexer *L, size_t i) {
    size_t st = i;
    while (i < L->n && (L->s[i] >= '0' && L->s[i] <= '9')) {
        i++;
        if (i + 1 < L->n && L->s[i] == '_' && L->s[i + 1] >= '0' && L->s[i + 1] <= '9') i++;
    }
    return i > st ? i : st;
}

static void lex_number(lexer *L) {
    size_t b = L->pos, i = scan_digits(L, b), e = i;
    bool is_float = false;
    if (i + 1 < L->n && L->s[i] == '.' && L->s[i + 1] >= '0' && L->s[i + 1] <= '9') {
        e = scan_digits(L, i + 1);
        is_float = true;
    }
    if (e < L->n && L->s[e] == 'e') {
        size_t k = e + 1;
        if (k < L->n && (L->s[k] == '+' || L->s[k] == '-')) k++;
        if (k < L->n && L->s[k] >= '0' && L->s[k] <= '9') {
            e = scan_digits(L, k);
            is_float = true;
        }
    }
    char buf[128];
    size_t k = 0;
    for (size_t j = b; j < e && k + 1 < sizeof buf; j++)
        if (L->s[j] != '_') buf[k++] = L->s[j];
    buf[k] = 0;
    if (e - b >= sizeof buf - 1) lfail(L, b, "number literal too long");
    jtok *t = emit(L, is_float ? T_FLOAT : T_INT, b, L->s + b, e - b);
    if (is_float) {
        t->f = strtod(buf, NULL);
    } else {
        int64_t v = 0;
        for (size_t j = 0; j < k; j++)
            if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, buf[j] - '0', &v))
                lfail(L, b, "integer literal too large");
        t->i = v;
    }
    L->pos = e;
}

static const char *const k_ops[] = {"**", "//", "==", "!=", "<=", ">=", "+", "-", "/",
                                    "*",  "%",  "~",  "[",  "]",  "(",  ")", "{", "}",
                                    "<",  ">",  "=",  ".",  ":",  "|",  ",", ";"};

/* Lexes the inside of a {{ }} or {% %} tag up to and including its end. */
static void lex_tag(lexer *L, bool block, bool *line_starting) {
    int depth = 0;
    for (;;) {
        while (L->pos < L->n && is_ws(L->s[L->pos]))
            L->pos++;
        if (L->pos >= L->n) lfail(L, L->pos, "unexpected end of template inside a tag");
        size_t p = L->pos;
        const char *close = block ? "%}" : "}}";
        if (depth == 0) {
            if (starts(L, p, "-") && starts(L, p + 1, close)) {
                emit(L, block ? T_BEND : T_VEND, p, L->s + p, 3);
                L->pos = p + 3;
                while (L->pos < L->n && is_ws(L->s[L->pos]))
                    L->pos++;
                *line_starting = L->pos > p + 3 && L->s[L->pos - 1] == '\n';
                return;
            }
            if (block && starts(L, p, "+%}")) {
                emit(L, T_BEND, p, L->s + p, 3);
                L->pos = p + 3;
                *line_starting = false;
                return;
            }
            if (starts(L, p, close)) {
                emit(L, block ? T_BEND : T_VEND, p, L->s + p, 2);
                L->pos = p + 2;
                *line_starting = false;
                if (block && L->pos < L->n && L->s[L->pos] == '\n') { /* trim_blocks */
                    L->pos++;
                    *line_starting = true;
                }
                return;
            }
        }
        char c = L->s[p];
        if (c >= '0' && c <= '9') {
            lex_number(L);
        } else if (c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
            size_t e = p + 1;
            while (e < L->n &&
                   (L->s[e] == '_' || (L->s[e] >= 'a' && L->s[e] <= 'z') ||
                    (L->s[e] >= 'A' && L->s[e] <= 'Z') || (L->s[e] >= '0' && L->s[e] <= '9')))
                e++;
            emit(L, T_NAME, p, L->s + p, e - p);
            L->pos = e;
        } else if (c == '\'' || c == '"') {
            size_t e = p + 1;
            while (e < L->n && L->s[e] != c)
                e += (L->s[e] == '\\') ? 2 : 1;
            if (e >= L->n) lfail(L, p, "unterminated string literal");
            jtok *t = emit(L, T_STR, p, NULL, 0);
            lex_string_body(L, p + 1, e, t);
            L->pos = e + 1;
        } else {
            size_t k;
            for (k = 0; k < sizeof k_ops / sizeof k_ops[0]; k++)
                if (starts(L, p, k_ops[k])) break;
            if (k == sizeof k_ops / sizeof k_ops[0]) lfail(L, p, "unexpected character in tag");
            size_t len = strlen(k_ops[k]);
            if (k_ops[k][0] == '(' || k_ops[k][0] == '[' || k_ops[k][0] == '{') depth++;
            if ((k_ops[k][0] == ')' || k_ops[k][0] == ']' || k_ops[k][0] == '}') && depth > 0)
                depth--;
            emit(L, T_OP, p, L->s + p, len);
            L->pos = p + len;
        }
    }
}

/* After `{%` + sign at pos: is this `raw` followed by the tag end? Returns the
 * index after the tag end (and trims) or 0. */
static size_t raw_begin(lexer *L, size_t pos) {
    size_t i = pos;
    while (i < L->n && is_ws(L->s[i]))
        i++;
    if (!starts(L, i, "raw")) return 0;
    i += 3;
    while (i < L->n && is_ws(L->s[i]))
        i++;
    if (starts(L, i, "-%}")) {
        i += 3;
        while (i < L->n && is_ws(L->s[i]))
            i++;
        return i;
    }
    if (starts(L, i, "%}")) return i + 2 + (starts(L, i + 2, "\n") ? 1 : 0);
    return 0;
}

static void lex_raw(lexer *L, size_t body, bool *line_starting) {
    for (size_t i = body; i + 1 < L->n; i++) {
        if (L->s[i] != '{' || L->s[i + 1] != '%') continue;
        size_t j = i + 2;
        char sign = 0;
        if (j < L->n && (L->s[j] == '-' || L->s[j] == '+')) sign = L->s[j++];
        while (j < L->n && is_ws(L->s[j]))
            j++;
        if (!starts(L, j, "endraw")) continue;
        j += 6;
        while (j < L->n && is_ws(L->s[j]))
            j++;
        size_t end;
        if (starts(L, j, "-%}")) {
            end = j + 3;
            while (end < L->n && is_ws(L->s[end]))
                end++;
        } else if (starts(L, j, "%}")) {
            end = j + 2 + (starts(L, j + 2, "\n") ? 1 : 0);
        } else {
            continue;
        }
        emit_text(L, body, i, '%', sign, false);
        L->pos = end;
        *line_starting = end > 0 && L->s[end - 1] == '\n';
        return;
    }
    lfail(L, body, "missing {% endraw %}");
}

jtok *jlex(jarena *a, jenv *env, const char *src, size_t len, size_t *n_out) {
    /* Jinja normalizes \r\n and \r to \n and drops one trailing newline. */
    char *s = ja_alloc(a, len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            s[n++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n') i++;
        } else {
            s[n++] = src[i];
        }
    }
    if (n > 0 && s[n - 1] == '\n') n--;
    lexer L = {.a = a, .env = env, .s = s, .n = n, .line = 1, .col = 1};
    bool line_starting = true;
    while (L.pos < L.n) {
        size_t k = L.pos;
        char tag = 0;
        while (k + 1 < L.n) {
            if (L.s[k] == '{' && (L.s[k + 1] == '{' || L.s[k + 1] == '%' || L.s[k + 1] == '#')) {
                tag = L.s[k + 1];
                break;
            }
            k++;
        }
        if (!tag) {
            emit(&L, T_TEXT, L.pos, L.s + L.pos, L.n - L.pos);
            break;
        }
        char sign = 0;
        size_t after = k + 2;
        if (after < L.n && (L.s[after] == '-' || L.s[after] == '+')) sign = L.s[after++];
        if (tag == '%') {
            size_t body = raw_begin(&L, after);
            if (body) {
                emit_text(&L, L.pos, k, tag, sign, line_starting);
                lex_raw(&L, body, &line_starting);
                continue;
            }
        }
        emit_text(&L, L.pos, k, tag, sign, line_starting);
        if (tag == '#') {
            size_t e = after;
            while (e + 1 < L.n && !(L.s[e] == '#' && L.s[e + 1] == '}'))
                e++;
            if (e + 1 >= L.n) lfail(&L, k, "missing end of comment tag");
            char esign = e > after ? L.s[e - 1] : 0;
            L.pos = e + 2;
            line_starting = false;
            if (esign == '-') {
                while (L.pos < L.n && is_ws(L.s[L.pos]))
                    L.pos++;
                line_starting = L.pos > e + 2 && L.s[L.pos - 1] == '\n';
            } else if (esign != '+' && L.pos < L.n && L.s[L.pos] == '\n') {
                L.pos++;
                line_starting = true;
            }
            continue;
        }
        emit(&L, tag == '{' ? T_VBEGIN : T_BBEGIN, k, L.s + k, after - k);
        L.pos = after;
        lex_tag(&L, tag == '%', &line_starting);
    }
    emit(&L, T_EOF, L.n, L.s + L.n, 0);
    *n_out = L.nt;
    return L.t;
}
