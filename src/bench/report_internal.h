/* Run reports (ark_exp_report): report.c picks the run, plans and writes
 * the folder's files; report_html.c writes index.html from the plan. */
#ifndef ARK_BENCH_REPORT_INTERNAL_H
#define ARK_BENCH_REPORT_INTERNAL_H

#include <cjson/cJSON.h>
#include <stdio.h>

/* What index.html is written from.  File names are relative to the report
 * folder and made of [A-Za-z0-9._/-] only (safe in URLs as they are). */
typedef struct report_plan {
    const char *store_dir;
    const cJSON *version;  /* ark_exp_version's object (its "runs" included) */
    const cJSON *run;      /* the reported run (an item of version.runs) */
    cJSON *art_files;      /* per run.artefacts item: its file name in the folder */
    cJSON *tool_files;     /* per result.tools item (spec runs): results/NN_NAME.json */
    const char *result_file; /* results/result.json for another non-null result, else NULL */
    cJSON *att_files;      /* attachment key -> results/attachment_KEY.json */
    cJSON *tests;          /* array of hypothesis test objects (borrowed items as references) */
} report_plan;

/* Write index.html into `f`. */
void report_write_html(FILE *f, const report_plan *p);

/* HTML-escape `s` (& < > " ') into f. */
void report_put_html(FILE *f, const char *s);

#endif
