#include "testutil.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *fixture_path(const char *fmt, ...)
{
    static char buf[4096];
    const char *root = getenv("ARK_FIXTURES");
    if (!root) root = "../shared/fixtures";
    int n = snprintf(buf, sizeof buf, "%s/", root);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + n, sizeof buf - n, fmt, ap);
    va_end(ap);
    return buf;
}

const char *scratch_dir(const char *name)
{
    static char buf[4096];
    static int counter;
    const char *root = getenv("ARK_TMP");
    if (!root) root = "/tmp";
    mkdir(root, 0777);
    snprintf(buf, sizeof buf, "%s/%s.%d.%d", root, name, (int)getpid(), counter++);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", buf);
    if (system(cmd) != 0) return NULL;
    mkdir(buf, 0777);
    return buf;
}

char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    fclose(f);
    if (buf) { buf[n] = '\0'; if (len) *len = (size_t)n; }
    return buf;
}

double tol_ratio(const float *a, const float *b, size_t n, double atol, double rtol, size_t *worst)
{
    double w = 0;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) {
        if (a[i] == b[i]) continue; /* also equal infinities (masked scores) */
        double d = fabs((double)a[i] - (double)b[i]);
        double r = d / (atol + rtol * fabs((double)b[i]));
        if (!(r <= w)) { w = isnan(r) ? INFINITY : r; wi = i; if (isinf(w)) break; }
    }
    if (worst) *worst = wi;
    return w;
}

int fixture_folders(const char *group, char dirs[][512], int cap)
{
    char root[4096];
    snprintf(root, sizeof root, "%s", fixture_path("%s", group));
    DIR *d = opendir(root);
    assert_non_null(d);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) && n < cap) {
        char cfg[4700];
        snprintf(cfg, sizeof cfg, "%s/%s/config.json", root, e->d_name);
        FILE *f = e->d_name[0] != '.' ? fopen(cfg, "r") : NULL;
        if (f) { fclose(f); snprintf(dirs[n++], 512, "%.250s/%.250s", root, e->d_name); }
    }
    closedir(d);
    assert_true(n > 0);
    return n;
}
