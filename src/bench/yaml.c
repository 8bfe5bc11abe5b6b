/* YAML (libyaml) to JSON (cJSON) for experiment specs.
 *
 * Mappings become objects (key order kept; duplicate keys are an error, as
 * YAML 1.2 says), sequences arrays, aliases their anchor's value.  Plain
 * scalars resolve by the YAML 1.2 core schema: null (~, null, empty),
 * booleans (true/false in three casings), integers (decimal, 0x, 0o),
 * floats; quoted and block scalars are strings.  .inf and .nan have no JSON
 * form and stay strings. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "bench/bench_internal.h"
#include "core/error.h"

static bool is_one_of(const char *s, const char *const *words)
{
    for (; *words; words++)
        if (!strcmp(s, *words)) return true;
    return false;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool is_float(const char *s)
{
    if (*s == '-' || *s == '+') s++;
    int digits = 0;
    while (isdigit((unsigned char)*s)) { s++; digits++; }
    if (*s == '.') {
        s++;
        while (isdigit((unsigned char)*s)) { s++; digits++; }
    }
    if (!digits) return false;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '-' || *s == '+') s++;
        if (!isdigit((unsigned char)*s)) return false;
        while (isdigit((unsigned char)*s)) s++;
    }
    return *s == '\0';
}

/* A plain scalar's value. */
static cJSON *resolve_plain(const char *s)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    static const char *const trues[] = {"true", "True", "TRUE", NULL};
    static const char *const falses[] = {"false", "False", "FALSE", NULL};
    if (is_one_of(s, nulls)) return cJSON_CreateNull();
    if (is_one_of(s, trues)) return cJSON_CreateTrue();
    if (is_one_of(s, falses)) return cJSON_CreateFalse();
    const char *d = s;
    if (*d == '-' || *d == '+') d++;
    if (d[0] == '0' && (d[1] == 'x' || d[1] == 'o') && d[2]) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(d + 2, &end, d[1] == 'x' ? 16 : 8);
        if (!*end && !errno && d == s) return cJSON_CreateNumber((double)v);
    }
    if (is_float(s)) return cJSON_CreateNumber(strtod(s, NULL));
    return cJSON_CreateString(s);
}

typedef struct conv {
    yaml_document_t *doc;
    const char *where;
} conv;

static ark_status convert(conv *c, yaml_node_t *node, int depth, cJSON **out)
{
    *out = NULL;
    if (depth > 64) return ark_fail(ARK_ERR_FORMAT, "%s:%zu: nested too deeply (or a recursive alias)", c->where, node->start_mark.line + 1);
    if (node->type == YAML_SCALAR_NODE) {
        const char *v = (const char *)node->data.scalar.value;
        const char *tag = (const char *)node->tag;
        bool plain = node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        bool str_tag = !tag || !strcmp(tag, YAML_STR_TAG);
        *out = plain || !str_tag ? resolve_plain(v) : cJSON_CreateString(v);
        return ARK_OK;
    }
    if (node->type == YAML_SEQUENCE_NODE) {
        cJSON *arr = cJSON_CreateArray();
        for (yaml_node_item_t *it = node->data.sequence.items.start; it < node->data.sequence.items.top; it++) {
            cJSON *v;
            ark_status st = convert(c, yaml_document_get_node(c->doc, *it), depth + 1, &v);
            if (st != ARK_OK) { cJSON_Delete(arr); return st; }
            cJSON_AddItemToArray(arr, v);
        }
        *out = arr;
        return ARK_OK;
    }
    if (node->type == YAML_MAPPING_NODE) {
        cJSON *obj = cJSON_CreateObject();
        for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
            if (k->type != YAML_SCALAR_NODE) {
                cJSON_Delete(obj);
                return ark_fail(ARK_ERR_FORMAT, "%s:%zu:%zu: mapping keys must be plain text", c->where,
                                k->start_mark.line + 1, k->start_mark.column + 1);
            }
            const char *key = (const char *)k->data.scalar.value;
            if (cJSON_GetObjectItemCaseSensitive(obj, key)) {
                cJSON_Delete(obj);
                return ark_fail(ARK_ERR_FORMAT, "%s:%zu:%zu: duplicate key \"%s\"", c->where, k->start_mark.line + 1,
                                k->start_mark.column + 1, key);
            }
            cJSON *v;
            ark_status st = convert(c, yaml_document_get_node(c->doc, p->value), depth + 1, &v);
            if (st != ARK_OK) { cJSON_Delete(obj); return st; }
            cJSON_AddItemToObject(obj, key, v);
        }
        *out = obj;
        return ARK_OK;
    }
    *out = cJSON_CreateNull();
    return ARK_OK;
}

ark_status ark_yaml_parse(const char *yaml, size_t len, const char *where, cJSON **out)
{
    *out = NULL;
    if (!where) where = "yaml";
    yaml_parser_t p;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&p)) return ark_fail(ARK_ERR_NOMEM, "%s: cannot start the YAML parser", where);
    yaml_parser_set_input_string(&p, (const unsigned char *)yaml, len);
    ark_status st = ARK_OK;
    if (!yaml_parser_load(&p, &doc)) {
        st = ark_fail(ARK_ERR_FORMAT, "%s:%zu:%zu: %s%s%s", where, p.problem_mark.line + 1, p.problem_mark.column + 1,
                      p.problem ? p.problem : "malformed YAML", p.context ? " " : "", p.context ? p.context : "");
        yaml_parser_delete(&p);
        return st;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) {
        *out = cJSON_CreateNull();
    } else {
        conv c = {&doc, where};
        st = convert(&c, root, 0, out);
    }
    yaml_document_delete(&doc);
    if (st == ARK_OK) {
        /* One document only. */
        if (yaml_parser_load(&p, &doc)) {
            bool more = yaml_document_get_root_node(&doc) != NULL;
            yaml_document_delete(&doc);
            if (more) st = ark_fail(ARK_ERR_FORMAT, "%s: more than one YAML document", where);
        }
        if (st != ARK_OK) { cJSON_Delete(*out); *out = NULL; }
    }
    yaml_parser_delete(&p);
    return st;
}

ark_status ark_yaml_to_json(const char *yaml, size_t len, const char *where, char **json)
{
    *json = NULL;
    cJSON *v;
    ARK_TRY(ark_yaml_parse(yaml, len, where, &v));
    *json = cJSON_PrintUnformatted(v);
    cJSON_Delete(v);
    return ARK_OK;
}

cJSON *ark_yaml_scalar_value(const char *text)
{
    while (isspace((unsigned char)*text)) text++;
    if (strchr("[{\"'", *text) && *text) {
        cJSON *v;
        if (ark_yaml_parse(text, strlen(text), "value", &v) == ARK_OK) return v;
        ark_clear_error();
    }
    return resolve_plain(text);
}
