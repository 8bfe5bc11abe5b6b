/* A C function's own source text, found in its file at run time — what
 * ARK_LOG_EXPERIMENT records as an experiment's source (the way Python's
 * inspect.getsource reads a function's definition from its module file).
 *
 * The scan is a small lexer, not a parser: it skips comments (block and
 * line, with backslash continuations), string and character literals, and
 * preprocessor lines, and counts braces.  A definition of NAME is the
 * identifier NAME at brace depth 0, followed by a balanced parameter list
 * and then `{`.  Its text runs from the first token after the previous
 * top-level `;`, `}` or preprocessor line (so the return type, storage
 * class and attributes are included; comments before it are not) through
 * the matching `}` and the rest of that line.  Known limits: braces in
 * inactive #if branches are counted, and a function inside `extern "C" {`
 * is not at depth 0. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_internal.h"

/* Past a comment starting at i ("//" or block); i unchanged if none. */
static size_t skip_comment(const char *t, size_t i)
{
    if (t[i] != '/') return i;
    if (t[i + 1] == '/') {
        i += 2;
        while (t[i] && !(t[i] == '\n' && t[i - 1] != '\\')) i++;
        return i;
    }
    if (t[i + 1] == '*') {
        const char *e = strstr(t + i + 2, "*/");
        return e ? (size_t)(e - t) + 2 : strlen(t);
    }
    return i;
}

/* Past a string or character literal starting at i (its quote). */
static size_t skip_literal(const char *t, size_t i)
{
    char q = t[i++];
    while (t[i] && t[i] != q && t[i] != '\n') {
        if (t[i] == '\\' && t[i + 1]) i++;
        i++;
    }
    return t[i] == q ? i + 1 : i;
}

/* Past white space and comments. */
static size_t skip_trivia(const char *t, size_t i)
{
    for (;;) {
        while (isspace((unsigned char)t[i])) i++;
        size_t j = skip_comment(t, i);
        if (j == i) return i;
        i = j;
    }
}

/* Past a preprocessor line starting at '#' (continuations, comments and
 * literals inside it included). */
static size_t skip_directive(const char *t, size_t i)
{
    while (t[i] && t[i] != '\n') {
        if (t[i] == '\\' && t[i + 1] == '\n') { i += 2; continue; }
        size_t j = skip_comment(t, i);
        if (j != i) { i = j; continue; }
        if (t[i] == '"' || t[i] == '\'') { i = skip_literal(t, i); continue; }
        i++;
    }
    return i;
}

/* Index just past the ')' matching the '(' at i, or 0. */
static size_t match_paren(const char *t, size_t i)
{
    int depth = 0;
    while (t[i]) {
        size_t j = skip_comment(t, i);
        if (j != i) { i = j; continue; }
        char c = t[i];
        if (c == '"' || c == '\'') { i = skip_literal(t, i); continue; }
        if (c == '(') depth++;
        else if (c == ')' && --depth == 0) return i + 1;
        else if (c == '{' || c == '}' || c == ';') return 0;
        i++;
    }
    return 0;
}

static int line_of(const char *t, size_t pos)
{
    int line = 1;
    for (size_t i = 0; i < pos; i++) line += t[i] == '\n';
    return line;
}

/* Copy [start, end) widened to whole lines: back to the line's start when
 * only blanks precede, forward through the closing line's newline. */
static char *cut(const char *t, size_t start, size_t end)
{
    size_t s = start;
    while (s > 0 && (t[s - 1] == ' ' || t[s - 1] == '\t')) s--;
    if (s > 0 && t[s - 1] != '\n') s = start;
    while (t[end] && t[end] != '\n') end++;
    if (t[end] == '\n') end++;
    char *out = malloc(end - s + 1);
    memcpy(out, t + s, end - s);
    out[end - s] = '\0';
    return out;
}

char *ark_c_function_source(const char *t, const char *name, int *first_line, char *why, size_t why_len)
{
    size_t i = 0, name_len = strlen(name);
    int depth = 0;
    bool line_start = true;
    long decl = -1, start = -1;
    while (t[i]) {
        char c = t[i];
        if (c == '\n') { line_start = true; i++; continue; }
        if (isspace((unsigned char)c)) { i++; continue; }
        size_t j = skip_comment(t, i);
        if (j != i) { i = j; continue; }
        if (c == '#' && line_start) {
            i = skip_directive(t, i);
            if (depth == 0) decl = -1;
            continue;
        }
        line_start = false;
        if (depth == 0 && decl < 0) decl = (long)i;
        if (c == '"' || c == '\'') { i = skip_literal(t, i); continue; }
        if (isalpha((unsigned char)c) || c == '_') {
            j = i;
            while (isalnum((unsigned char)t[j]) || t[j] == '_') j++;
            if (depth == 0 && start < 0 && j - i == name_len && !memcmp(t + i, name, name_len)) {
                size_t k = skip_trivia(t, j);
                size_t close = t[k] == '(' ? match_paren(t, k) : 0;
                if (close && t[skip_trivia(t, close)] == '{') start = decl;
            }
            i = j;
            continue;
        }
        if (c == '{') depth++;
        else if (c == '}' && depth > 0 && --depth == 0) {
            if (start >= 0) {
                *first_line = line_of(t, (size_t)start);
                return cut(t, (size_t)start, i + 1);
            }
            decl = -1;
        } else if (c == ';' && depth == 0) {
            decl = -1;
        }
        i++;
    }
    if (start >= 0) snprintf(why, why_len, "the definition of %s has no closing brace", name);
    else snprintf(why, why_len, "no definition of %s(...) { ... } at file scope", name);
    return NULL;
}
