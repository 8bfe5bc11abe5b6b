/* index.html of a run report (report.c plans the files): one page, inline
 * CSS, no resource outside the folder; every text from the store is
 * escaped (report_put_html). */
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arrakis/bench.h"
#include "bench/report_internal.h"

#define PREVIEW_LINES 40

static const char *CSS =
    ":root{--fg:#1d232a;--muted:#5b6570;--line:#d8dde3;--accent:#2458a6;--ok:#1b7f3b;--bad:#b3261e;--warn:#8a6100}\n"
    "*{box-sizing:border-box}\n"
    "body{font:15px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,\"Helvetica Neue\",Arial,sans-serif;color:var(--fg);"
    "background:#fff;margin:0}\n"
    "main{max-width:64rem;margin:0 auto;padding:1.5rem 1.25rem 3rem}\n"
    "h1{font-size:1.6rem;margin:.2rem 0;word-break:break-word}\n"
    "h2{font-size:1.2rem;margin:2rem 0 .6rem;padding-bottom:.25rem;border-bottom:1px solid var(--line)}\n"
    "h3{font-size:1rem;margin:1.2rem 0 .4rem}\n"
    ".sub{color:var(--muted);margin:0 0 .8rem}\n"
    ".description{font-size:1.02rem;max-width:50rem;margin:.2rem 0 .8rem}\n"
    "nav{margin:.6rem 0 1rem}nav a{margin-right:.9rem}\n"
    "a{color:var(--accent)}\n"
    "code,pre{font:13px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,\"DejaVu Sans Mono\",monospace}\n"
    "pre{background:#f6f8fa;border:1px solid var(--line);border-radius:4px;padding:.6rem .8rem;overflow:auto;"
    "max-height:36rem;tab-size:2;white-space:pre-wrap;word-break:break-word}\n"
    ".wide{overflow-x:auto}\n"
    "table{border-collapse:collapse;margin:.4rem 0;font-size:14px}\n"
    "th,td{border-bottom:1px solid var(--line);padding:.3rem .6rem;text-align:left;vertical-align:top}\n"
    "th{background:#f3f5f7;font-weight:600}\n"
    "td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\n"
    "table.kv th{width:11rem;background:none;color:var(--muted);font-weight:500}\n"
    "table.kv td{word-break:break-word}\n"
    ".status{display:inline-block;padding:0 .55rem;border-radius:1rem;font-weight:600;font-size:.85rem;color:#fff}\n"
    ".status.ok{background:var(--ok)}.status.failed{background:var(--bad)}.status.other{background:var(--warn)}\n"
    ".error{border-left:4px solid var(--bad);background:#fdf1f0;padding:.5rem .8rem;margin:.8rem 0}\n"
    "figure{margin:1.2rem 0;break-inside:avoid}\n"
    "figure img{max-width:100%;height:auto;border:1px solid var(--line)}\n"
    "figcaption{color:var(--muted);font-size:.9rem}\n"
    ".small{color:var(--muted);font-size:.85rem}\n"
    ".reject{font-weight:600}\n"
    "tr.test td{border-bottom:none;padding-bottom:.1rem}td.dec{white-space:nowrap}\n"
    "details{margin:.4rem 0}details summary{cursor:pointer;color:var(--accent)}\n"
    "footer{margin-top:2.5rem;color:var(--muted);font-size:.85rem;border-top:1px solid var(--line);padding-top:.6rem}\n"
    "@media print{body{font-size:10.5pt}main{max-width:none;padding:0}nav{display:none}"
    "pre{max-height:none;overflow:visible}a{color:inherit}h2,h3{break-after:avoid}tr{break-inside:avoid}}\n";

void report_put_html(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

#define H(s) report_put_html(f, (s))

/* printf, escaped (for text built from the store's values). */
static void hf(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void hf(FILE *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) >= 0) H(s);
    va_end(ap);
    free(s);
}

static const cJSON *get(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k); }
static const char *str(const cJSON *o, const char *k)
{
    const char *s = cJSON_GetStringValue(get(o, k));
    return s ? s : "";
}

/* A number with `sig` significant digits, "—" when not finite (or, for
 * fmt_num, null or absent). */
static const char *fmt_d(char buf[40], double v, int sig)
{
    if (!isfinite(v)) return "\xe2\x80\x94";
    snprintf(buf, 40, "%.*g", sig, v);
    return buf;
}

static const char *fmt_num(char buf[40], const cJSON *v, int sig)
{
    return fmt_d(buf, cJSON_IsNumber(v) ? v->valuedouble : NAN, sig);
}

/* A p-value: below 1e-4 as "< 1e-4", else 2 significant digits (3 below
 * 0.01 would claim more than a test gives). */
static const char *fmt_p(char buf[40], const cJSON *v)
{
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return "\xe2\x80\x94";
    if (v->valuedouble < 1e-4) return "< 1e-4";
    snprintf(buf, 40, "%.2g", v->valuedouble);
    return buf;
}

/* Compact JSON, cut after `max` bytes (at a UTF-8 boundary) with "…". */
static void put_json_cut(FILE *f, const cJSON *v, size_t max)
{
    char *s = cJSON_PrintUnformatted(v);
    if (!s) return;
    size_t n = strlen(s);
    if (n > max) {
        while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80) max--;
        s[max] = '\0';
    }
    H(s);
    if (n > max) fputs("\xe2\x80\xa6", f);
    free(s);
}

/* The first PREVIEW_LINES lines of v's pretty JSON in a <details>. */
static void put_preview(FILE *f, const cJSON *v, const char *file)
{
    char *s = cJSON_Print(v);
    if (!s) return;
    int lines = 1;
    for (const char *c = s; *c; c++) lines += *c == '\n';
    const char *end = s;
    for (int k = 0; k < PREVIEW_LINES && end; k++) {
        end = strchr(end, '\n');
        if (end) end++;
    }
    if (end) *(char *)(end - 1) = '\0';
    fprintf(f, "<details><summary>preview (%s%d lines of JSON)</summary><pre>", end ? "first 40 of " : "", lines);
    H(s);
    if (end) {
        fputs("\n\xe2\x80\xa6 (", f);
        hf(f, "the whole JSON: %s", file);
        fputs(")", f);
    }
    fputs("</pre></details>\n", f);
    free(s);
}

static const char *status_class(const char *s)
{
    if (!strcmp(s, "ok")) return "ok";
    if (!strcmp(s, "failed")) return "failed";
    return "other";
}

/* ---- sections ---- */

static void write_head(FILE *f, const report_plan *p)
{
    const cJSON *r = p->run;
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>", f);
    hf(f, "%s \xe2\x80\x94 version %.0f, run %.0f", str(r, "experiment"), cJSON_GetNumberValue(get(r, "version")),
       cJSON_GetNumberValue(get(r, "id")));
    fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<main>\n", CSS);
}

static void write_title(FILE *f, const report_plan *p)
{
    const cJSON *r = p->run;
    const char *status = str(r, "status");
    fputs("<header>\n<h1>", f);
    H(str(r, "experiment"));
    fputs("</h1>\n<p class=\"sub\">", f);
    hf(f, "version %.0f (%.12s) \xc2\xb7 run %.0f \xc2\xb7 ", cJSON_GetNumberValue(get(r, "version")), str(r, "version_hash"),
       cJSON_GetNumberValue(get(r, "id")));
    fprintf(f, "<span class=\"status %s\">", status_class(status));
    H(status);
    fputs("</span></p>\n", f);
    /* A spec's description: what the experiment asks, in its author's words. */
    const char *desc = str(get(get(r, "params"), "spec"), "description");
    if (*desc) {
        fputs("<p class=\"description\">", f);
        H(desc);
        fputs("</p>\n", f);
    }
    if (*str(r, "error")) {
        fputs("<div class=\"error\"><strong>error:</strong> ", f);
        H(str(r, "error"));
        fputs("</div>\n", f);
    }
    fputs("<nav>", f);
    if (cJSON_GetArraySize(p->tests)) fputs("<a href=\"#tests\">hypothesis tests</a>", f);
    if (cJSON_GetArraySize(get(r, "metrics"))) fputs("<a href=\"#metrics\">metrics</a>", f);
    if (cJSON_GetArraySize(get(r, "artefacts")) || cJSON_GetArraySize(get(get(r, "attachments"), "plots")))
        fputs("<a href=\"#plots\">plots and files</a>", f);
    if (cJSON_GetArraySize(p->tool_files) || p->result_file) fputs("<a href=\"#results\">results</a>", f);
    fputs("<a href=\"#provenance\">provenance</a><a href=\"#parameters\">parameters</a>"
          "<a href=\"#source\">source</a></nav>\n</header>\n", f);
}

/* <tr><th>key</th><td>escaped text</td></tr> */
static void kv(FILE *f, const char *key, const char *text)
{
    fputs("<tr><th>", f);
    H(key);
    fputs("</th><td>", f);
    H(text);
    fputs("</td></tr>\n", f);
}

static void duration_text(char *buf, size_t n, const cJSON *d)
{
    if (!cJSON_IsNumber(d)) snprintf(buf, n, "unknown (the run did not finish)");
    else if (d->valuedouble < 60) snprintf(buf, n, "%.3g s", d->valuedouble);
    else snprintf(buf, n, "%d min %.0f s", (int)(d->valuedouble / 60), fmod(d->valuedouble, 60));
}

/* "2026-11-27T08:02:23.851Z" as "2026-11-27 08:02:23.851". */
static const char *utc(char buf[40], const char *iso)
{
    snprintf(buf, 40, "%s", iso);
    char *t = strchr(buf, 'T'), *z = strchr(buf, 'Z');
    if (t) *t = ' ';
    if (z) *z = '\0';
    return buf;
}

static void write_provenance(FILE *f, const report_plan *p)
{
    const cJSON *r = p->run, *v = p->version;
    char buf[512];
    fputs("<section id=\"provenance\">\n<h2>Provenance</h2>\n<table class=\"kv\">\n", f);
    int n_runs = cJSON_GetArraySize(get(v, "runs"));
    snprintf(buf, sizeof buf, "%.0f (version %.0f has %d run%s%s)", cJSON_GetNumberValue(get(r, "id")),
             cJSON_GetNumberValue(get(v, "version")), n_runs, n_runs == 1 ? "" : "s",
             n_runs == 1 ? "" : "; report another with --run ID");
    kv(f, "run", buf);
    char when[40];
    snprintf(buf, sizeof buf, "%s UTC", utc(when, str(r, "started")));
    kv(f, "started", buf);
    duration_text(buf, sizeof buf, get(r, "duration_s"));
    kv(f, "duration", buf);
    snprintf(buf, sizeof buf, "%.0f (%s source), sha256 %s, first seen %s UTC", cJSON_GetNumberValue(get(v, "version")),
             str(v, "kind"), str(v, "hash"), utc(when, str(v, "created")));
    kv(f, "version", buf);
    const cJSON *m = get(r, "model");
    if (cJSON_IsObject(m)) {
        fputs("<tr><th>model</th><td><code>", f);
        H(str(m, "dir"));
        fputs("</code><br><span class=\"small\">sha256 ", f);
        H(str(m, "sha256"));
        fputs("<br>config ", f);
        H(str(m, "config_sha256"));
        fputs(" \xc2\xb7 weights ", f);
        H(str(m, "weights_sha256"));
        fputs("</span></td></tr>\n", f);
    } else kv(f, "model", "none");
    const cJSON *t = get(r, "tokenizer");
    if (cJSON_IsObject(t)) {
        fputs("<tr><th>tokenizer</th><td><code>", f);
        H(str(t, "file"));
        fputs("</code><br><span class=\"small\">sha256 ", f);
        H(str(t, "sha256"));
        fputs("</span></td></tr>\n", f);
    } else kv(f, "tokenizer", "none");
    kv(f, "library", str(r, "library_version"));
    snprintf(buf, sizeof buf, "%s \xc2\xb7 %s \xc2\xb7 pid %.0f", str(r, "host"), str(r, "system"),
             cJSON_GetNumberValue(get(r, "pid")));
    kv(f, "host", buf);
    const cJSON *rss = get(r, "peak_rss_kb"), *rss0 = get(r, "peak_rss_start_kb");
    if (cJSON_IsNumber(rss)) {
        snprintf(buf, sizeof buf, "%.1f MB (%.1f MB when the run started)", rss->valuedouble / 1024,
                 cJSON_GetNumberValue(rss0) / 1024);
        kv(f, "peak memory", buf);
    }
    kv(f, "store", p->store_dir);
    fputs("</table>\n</section>\n", f);
}

/* name -> compact JSON value, one row each. */
static void kv_json_table(FILE *f, const cJSON *o)
{
    const cJSON *it;
    fputs("<table class=\"kv\">\n", f);
    cJSON_ArrayForEach(it, o) {
        fputs("<tr><th>", f);
        H(it->string);
        fputs("</th><td><code>", f);
        put_json_cut(f, it, 300);
        fputs("</code></td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

static void write_params(FILE *f, const report_plan *p)
{
    const cJSON *params = get(p->run, "params");
    const cJSON *spec = get(params, "spec"), *over = get(params, "overrides");
    fputs("<section id=\"parameters\">\n<h2>Parameters</h2>\n", f);
    if (cJSON_IsObject(spec) && cJSON_IsObject(over) && cJSON_GetArraySize(params) == 2) {
        if (cJSON_GetArraySize(over)) {
            fputs("<p>Overrides of the spec for this run (<code>--set</code>, <code>--multirun</code>):</p>\n", f);
            kv_json_table(f, over);
        } else {
            fputs("<p>The spec as written (no overrides).</p>\n", f);
        }
        if (cJSON_IsObject(get(spec, "inputs"))) {
            fputs("<p>Inputs:</p>\n", f);
            kv_json_table(f, get(spec, "inputs"));
        }
        char *s = cJSON_Print(spec);
        fputs("<details><summary>the effective spec (after overrides)</summary><pre>", f);
        H(s);
        fputs("</pre></details>\n", f);
        free(s);
    } else if (cJSON_GetArraySize(params)) {
        kv_json_table(f, params);
    } else {
        fputs("<p class=\"small\">none</p>\n", f);
    }
    fputs("</section>\n", f);
}

static void write_metrics(FILE *f, const report_plan *p)
{
    const cJSON *ms = get(p->run, "metrics"), *it;
    if (!cJSON_GetArraySize(ms)) return;
    char buf[40];
    fputs("<section id=\"metrics\">\n<h2>Metrics</h2>\n<table>\n<tr><th>metric</th><th>value</th></tr>\n", f);
    cJSON_ArrayForEach(it, ms) {
        fputs("<tr><td>", f);
        H(it->string);
        fputs("</td><td class=\"num\">", f);
        H(cJSON_IsNumber(it) ? fmt_num(buf, it, 6) : "null (not finite)");
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n</section>\n", f);
}


static bool is_image(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot) return false;
    static const char *ext[] = {".png", ".svg", ".jpg", ".jpeg", ".gif", ".webp", NULL};
    for (int i = 0; ext[i]; i++)
        if (!strcasecmp(dot, ext[i])) return true;
    return false;
}

/* The plot spec that produced an artefact (by name, else by hash). */
static const cJSON *plot_spec_of(const report_plan *p, const cJSON *art)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, get(get(p->run, "attachments"), "plots")) if (!strcmp(str(it, "out"), str(art, "name"))) return it;
    cJSON_ArrayForEach(it, get(get(p->run, "attachments"), "plots"))
        if (*str(it, "sha256") && !strcmp(str(it, "sha256"), str(art, "sha256"))) return it;
    return NULL;
}

/* "type · title · layer 0 · head 0 · from tools.0.result" */
static void put_caption(FILE *f, const cJSON *art, const cJSON *spec)
{
    if (!spec) { H(str(art, "name")); return; }
    fputs("<strong>", f);
    H(str(spec, "type"));
    fputs("</strong>", f);
    if (*str(spec, "title")) { fputs(" \xc2\xb7 ", f); H(str(spec, "title")); }
    static const char *skip[] = {"type", "title", "caption", "out", "status", "sha256", "data", "width", "height", NULL};
    const cJSON *it;
    cJSON_ArrayForEach(it, spec) {
        bool skipped = false;
        for (int i = 0; skip[i]; i++) skipped |= !strcmp(it->string, skip[i]);
        if (skipped || cJSON_IsObject(it)) continue;
        fputs(" \xc2\xb7 ", f);
        H(it->string);
        fputs(" ", f);
        if (cJSON_IsString(it)) H(it->valuestring);
        else put_json_cut(f, it, 80);
    }
    fputs(" <span class=\"small\">(", f);
    H(str(art, "name"));
    fputs(")</span>", f);
    if (*str(spec, "caption")) { /* the spec's words on what the plot shows */
        fputs("<br>", f);
        H(str(spec, "caption"));
    }
}

static void write_files(FILE *f, const report_plan *p)
{
    const cJSON *arts = get(p->run, "artefacts"), *plots = get(get(p->run, "attachments"), "plots"), *it;
    if (!cJSON_GetArraySize(arts) && !cJSON_GetArraySize(plots)) return;
    fputs("<section id=\"plots\">\n<h2>Plots and files</h2>\n", f);
    int i = 0, n_other = 0;
    cJSON_ArrayForEach(it, arts) {
        const char *file = cJSON_GetArrayItem(p->art_files, i++)->valuestring;
        if (!is_image(str(it, "name"))) { n_other++; continue; }
        fputs("<figure><a href=\"", f);
        H(file);
        fputs("\"><img src=\"", f);
        H(file);
        fputs("\" alt=\"", f);
        H(str(it, "name"));
        fputs("\"></a><figcaption>", f);
        put_caption(f, it, plot_spec_of(p, it));
        fputs("</figcaption></figure>\n", f);
    }
    cJSON_ArrayForEach(it, plots) {
        if (!strcmp(str(it, "status"), "ok")) continue;
        fputs("<p class=\"small\">plot ", f);
        hf(f, "%s \xe2\x86\x92 %s: %s", str(it, "type"), str(it, "out"), str(it, "status"));
        fputs("</p>\n", f);
    }
    if (n_other) {
        fputs("<h3>Other files</h3>\n<table>\n<tr><th>artefact</th><th>bytes</th><th>sha256</th></tr>\n", f);
        i = 0;
        cJSON_ArrayForEach(it, arts) {
            const char *file = cJSON_GetArrayItem(p->art_files, i++)->valuestring;
            if (is_image(str(it, "name"))) continue;
            fputs("<tr><td><a href=\"", f);
            H(file);
            fputs("\">", f);
            H(str(it, "name"));
            fprintf(f, "</a></td><td class=\"num\">%.0f</td><td><code>", cJSON_GetNumberValue(get(it, "bytes")));
            hf(f, "%.16s", str(it, "sha256"));
            fputs("\xe2\x80\xa6</code></td></tr>\n", f);
        }
        fputs("</table>\n", f);
    }
    fputs("</section>\n", f);
}

static void put_file_link(FILE *f, const char *file)
{
    fputs("<p class=\"small\">JSON: <a href=\"", f);
    H(file);
    fputs("\">", f);
    H(file);
    fputs("</a></p>\n", f);
}

/* The CI's bounds; a one-sided interval's open end (null) as ±∞. */
static void put_ci(FILE *f, const cJSON *t)
{
    char b1[40], b2[40];
    const cJSON *ci = get(t, "ci");
    if (!cJSON_IsObject(ci)) { fputs("\xe2\x80\x94", f); return; }
    const char *alt = str(t, "alternative");
    const char *lo = fmt_num(b1, get(ci, "low"), 4), *hi = fmt_num(b2, get(ci, "high"), 4);
    if (!cJSON_IsNumber(get(ci, "low")) && !strcmp(alt, "less")) lo = "\xe2\x88\x92\xe2\x88\x9e";
    if (!cJSON_IsNumber(get(ci, "high")) && !strcmp(alt, "greater")) hi = "\xe2\x88\x9e";
    fprintf(f, "[%s,&nbsp;%s]<br><span class=\"small\">", lo, hi);
    hf(f, "%s%% %s", fmt_d(b1, 100 * cJSON_GetNumberValue(get(ci, "level")), 3), str(ci, "method"));
    fputs("</span>", f);
}

/* A test's numbers: test, n, means, Δ, CI, statistic, p, decision. */
static void write_test_numbers(FILE *f, const cJSON *t, int k)
{
    char b1[40];
    const char *name = *str(t, "name") ? str(t, "name") : *str(t, "hypothesis") ? str(t, "hypothesis") : str(t, "metric");
    fputs("<tr class=\"test\"><td><strong>", f);
    if (*name) H(name);
    else fprintf(f, "test %d", k + 1);
    fputs("</strong></td><td>", f);
    H(str(t, "test"));
    if (cJSON_IsTrue(get(t, "paired")) && !strstr(str(t, "test"), "paired")) fputs(", paired", f);
    if (*str(t, "alternative")) { fputs("<br><span class=\"small\">", f); H(str(t, "alternative")); fputs("</span>", f); }
    double n = cJSON_GetNumberValue(get(t, "n")), na = cJSON_GetNumberValue(get(t, "n_a")), nb = cJSON_GetNumberValue(get(t, "n_b"));
    if (!isnan(n)) fprintf(f, "</td><td class=\"num\">%.0f", n);
    else if (!isnan(na) && na != nb) fprintf(f, "</td><td class=\"num\">%.0f / %.0f", na, nb);
    else if (!isnan(na)) fprintf(f, "</td><td class=\"num\">%.0f", na);
    else fputs("</td><td class=\"num\">\xe2\x80\x94", f);
    fprintf(f, "</td><td class=\"num\">%s", fmt_num(b1, get(t, "mean_a"), 4));
    fprintf(f, "</td><td class=\"num\">%s", fmt_num(b1, get(t, "mean_b"), 4));
    fprintf(f, "</td><td class=\"num\">%s</td><td class=\"num\">", fmt_num(b1, get(t, "mean_diff"), 4));
    put_ci(f, t);
    fputs("</td><td class=\"num\">", f);
    if (cJSON_IsNumber(get(t, "statistic"))) {
        H(*str(t, "statistic_name") ? str(t, "statistic_name") : "statistic");
        fprintf(f, " = %s", fmt_num(b1, get(t, "statistic"), 4));
        if (cJSON_IsNumber(get(t, "df"))) fprintf(f, "<br><span class=\"small\">df %s</span>", fmt_num(b1, get(t, "df"), 4));
    } else fputs("\xe2\x80\x94", f);
    fputs("</td><td class=\"num\">", f);
    H(fmt_p(b1, get(t, "p_value")));
    fprintf(f, "</td><td class=\"dec%s\">", cJSON_IsTrue(get(t, "reject")) ? " reject" : "");
    H(str(t, "decision"));
    if (cJSON_IsNumber(get(t, "alpha"))) fprintf(f, "<br><span class=\"small\">at \xce\xb1 = %s</span>", fmt_num(b1, get(t, "alpha"), 3));
    fputs("</td></tr>\n", f);
}

/* A test's words under its numbers: hypothesis, metric, the a/b paths,
 * the statement and any note. */
static void write_test_words(FILE *f, const cJSON *t)
{
    fputs("<tr><td colspan=\"10\" class=\"small\">", f);
    const char *sep = "";
    if (*str(t, "hypothesis") && strcmp(str(t, "hypothesis"), str(t, "name"))) {
        fputs("<em>", f);
        H(str(t, "hypothesis"));
        fputs("</em>", f);
        sep = " \xc2\xb7 ";
    }
    if (*str(t, "metric")) { fputs(sep, f); hf(f, "metric %s", str(t, "metric")); sep = " \xc2\xb7 "; }
    static const char *side[] = {"a", "b"};
    for (int i = 0; i < 2; i++) {
        const cJSON *v = get(t, side[i]);
        if (!v) continue;
        fprintf(f, "%s%s: <code>", sep, side[i]);
        if (cJSON_IsString(v)) H(v->valuestring);
        else put_json_cut(f, v, 80);
        fputs("</code>", f);
        sep = " \xc2\xb7 ";
    }
    if (*str(t, "statement")) { fputs(*sep ? "<br>" : "", f); H(str(t, "statement")); }
    if (*str(t, "note")) { fputs(" Note: ", f); H(str(t, "note")); }
    fputs("</td></tr>\n", f);
}

static void write_tests(FILE *f, const report_plan *p)
{
    const cJSON *t, *it;
    if (!cJSON_GetArraySize(p->tests)) return;
    fputs("<section id=\"tests\">\n<h2>Hypothesis tests</h2>\n<div class=\"wide\"><table>\n"
          "<tr><th>hypothesis</th><th>test</th><th>n</th><th>mean a</th><th>mean b</th><th>\xce\x94</th><th>CI</th>"
          "<th>statistic</th><th>p</th><th>decision</th></tr>\n", f);
    int k = 0;
    cJSON_ArrayForEach(t, p->tests) {
        write_test_numbers(f, t, k++);
        write_test_words(f, t);
    }
    fputs("</table></div>\n", f);
    cJSON_ArrayForEach(it, p->att_files)
        if (!strcmp(it->string, "hypothesis_test") || !strcmp(it->string, "hypothesis_tests")) put_file_link(f, it->valuestring);
    fputs("</section>\n", f);
}

static void write_results(FILE *f, const report_plan *p)
{
    const cJSON *result = get(p->run, "result"), *it;
    if (!cJSON_GetArraySize(p->tool_files) && !p->result_file) return;
    fputs("<section id=\"results\">\n<h2>Results</h2>\n", f);
    int i = 0;
    cJSON_ArrayForEach(it, get(result, "tools")) {
        const char *file = cJSON_GetArrayItem(p->tool_files, i)->valuestring;
        fprintf(f, "<h3>tools[%d] ", i++);
        H(str(it, "name"));
        if (*str(it, "op")) { fputs(" <span class=\"small\">op ", f); H(str(it, "op")); fputs("</span>", f); }
        fputs("</h3>\n", f);
        put_file_link(f, file);
        put_preview(f, get(it, "result"), file);
    }
    if (p->result_file) {
        put_file_link(f, p->result_file);
        put_preview(f, result, p->result_file);
    }
    fputs("</section>\n", f);
}

/* Attachments other than plots and hypothesis tests (e.g. "profile"). */
static void write_attachments(FILE *f, const report_plan *p)
{
    const cJSON *att = get(p->run, "attachments"), *it;
    bool any = false;
    cJSON_ArrayForEach(it, p->att_files) {
        if (!strcmp(it->string, "hypothesis_test") || !strcmp(it->string, "hypothesis_tests")) continue;
        if (!any) fputs("<section id=\"attachments\">\n<h2>Attachments</h2>\n", f);
        any = true;
        fputs("<h3>", f);
        H(it->string);
        fputs("</h3>\n", f);
        put_file_link(f, it->valuestring);
        put_preview(f, get(att, it->string), it->valuestring);
    }
    if (any) fputs("</section>\n", f);
}

static void write_source(FILE *f, const report_plan *p)
{
    const cJSON *v = p->version;
    const char *src = str(v, "source");
    int lines = 1;
    for (const char *c = src; *c; c++) lines += *c == '\n';
    fputs("<section id=\"source\">\n<h2>Source</h2>\n<p class=\"small\">", f);
    hf(f, "%s source", str(v, "kind"));
    if (*str(v, "function")) hf(f, ", function %s", str(v, "function"));
    if (*str(v, "file")) hf(f, ", %s:%.0f", str(v, "file"), cJSON_GetNumberValue(get(v, "line")));
    hf(f, "; version %.0f is the SHA-256 of this text: %s", cJSON_GetNumberValue(get(v, "version")), str(v, "hash"));
    fputs("</p>\n", f);
    if (*str(v, "source_note")) { fputs("<p class=\"small\">", f); H(str(v, "source_note")); fputs("</p>\n", f); }
    fprintf(f, "<details%s><summary>source (%d lines)</summary><pre>", lines <= 60 ? " open" : "", lines);
    H(src);
    fputs("</pre></details>\n</section>\n", f);
}

static void write_footer(FILE *f, const report_plan *p)
{
    char now[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(now, sizeof now, "%Y-%m-%d %H:%M:%S", &tm);
    fputs("<footer>", f);
    hf(f, "Written by arrakis %s on %s UTC from the store %s. The run as JSON: ", ark_version(), now, p->store_dir);
    fputs("<a href=\"run.json\">run.json</a>. In a terminal: <code>", f);
    hf(f, "arrakis exp show %s %.0f --dir %s", str(p->run, "experiment"), cJSON_GetNumberValue(get(p->run, "version")),
       p->store_dir);
    fputs("</code></footer>\n</main>\n"
          "<script>window.addEventListener('beforeprint',function(){"
          "document.querySelectorAll('details').forEach(function(d){d.open=true})})</script>\n"
          "</body>\n</html>\n", f);
}

void report_write_html(FILE *f, const report_plan *p)
{
    write_head(f, p);
    write_title(f, p);
    /* Findings first, then where they came from. */
    write_tests(f, p);
    write_metrics(f, p);
    write_files(f, p);
    write_results(f, p);
    write_attachments(f, p);
    write_provenance(f, p);
    write_params(f, p);
    write_source(f, p);
    write_footer(f, p);
}
