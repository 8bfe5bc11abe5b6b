/* The knowledge graph as GraphViz DOT text (include/arrakis/tool_kg.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrakis/tool_kg.h"
#include "core/error.h"

char *ark_kg_dot_quote(const char *s)
{
    size_t n = strlen(s);
    char *q = malloc(2 * n + 3), *w = q;
    if (!q) return NULL;
    *w++ = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') *w++ = '\\', *w++ = (char)*p;
        else if (*p < 0x20 || *p == 0x7f) *w++ = ' ';
        else *w++ = (char)*p;
    }
    *w++ = '"';
    *w = '\0';
    return q;
}

/* A growing text. */
typedef struct strbuf {
    char *s;
    size_t n, cap;
    bool oom;
} strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (b->oom || need < 0) return;
    if (b->n + need + 1 > b->cap) {
        size_t cap = (b->cap ? 2 * b->cap : 1024) + need;
        char *s = realloc(b->s, cap);
        if (!s) { b->oom = true; return; }
        b->s = s, b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    b->n += need;
}

/* Nodes: distinct texts; kind bit 1 = subject, 2 = object. */
typedef struct nodes {
    int n;
    const char **text;
    int *kind;
} nodes;

static int node_id(nodes *nd, const char *text, int kind)
{
    for (int i = 0; i < nd->n; i++)
        if (!strcmp(nd->text[i], text)) { nd->kind[i] |= kind; return i; }
    nd->text[nd->n] = text;
    nd->kind[nd->n] = kind;
    return nd->n++;
}

ark_status ark_kg_dot(const ark_kg *g, const char *const *subjects, const ark_kg_relation *relations, char **out)
{
    *out = NULL;
    nodes nd = {0, malloc(sizeof(char *) * (2 * g->n + 1)), malloc(sizeof(int) * (2 * g->n + 1))};
    int *ends = malloc(sizeof(int) * (2 * g->n + 1));
    if (!nd.text || !nd.kind || !ends) { free(nd.text), free(nd.kind), free(ends); return ark_fail(ARK_ERR_NOMEM, "out of memory"); }
    for (int i = 0; i < g->n; i++) {
        ends[2 * i] = node_id(&nd, subjects[g->triples[i].subject], 1);
        ends[2 * i + 1] = node_id(&nd, g->triples[i].object_text, 2);
    }
    strbuf b = {0};
    sb_printf(&b, "digraph knowledge {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\", fontsize=10];\n");
    for (int i = 0; i < nd.n; i++) {
        char *q = ark_kg_dot_quote(nd.text[i]);
        sb_printf(&b, "  n%d [label=%s, shape=%s%s];\n", i, q ? q : "\"\"", nd.kind[i] & 1 ? "box" : "ellipse",
                  nd.kind[i] == 3 ? ", style=bold" : "");
        free(q);
    }
    for (int i = 0; i < g->n; i++) {
        const ark_kg_triple *t = &g->triples[i];
        char label[512];
        snprintf(label, sizeof label, "%s (%.2f)", relations[t->relation].name, t->prob);
        char *q = ark_kg_dot_quote(label);
        sb_printf(&b, "  n%d -> n%d [label=%s, penwidth=%.2f%s];\n", ends[2 * i], ends[2 * i + 1], q ? q : "\"\"",
                  1.0 + 4.0 * t->prob, t->stable ? "" : ", style=dashed");
        free(q);
    }
    sb_printf(&b, "}\n");
    free(nd.text), free(nd.kind), free(ends);
    if (b.oom || !b.s) { free(b.s); return ark_fail(ARK_ERR_NOMEM, "out of memory writing the DOT text"); }
    *out = b.s;
    return ARK_OK;
}
