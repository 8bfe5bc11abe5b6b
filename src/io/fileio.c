#include "io/fileio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

ark_status ark_read_text(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return ark_fail(errno == ENOENT ? ARK_ERR_MISSING : ARK_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return ark_fail(ARK_ERR_IO, "%s: not a regular file", path);
    }
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf) { fclose(f); return ark_fail(ARK_ERR_NOMEM, "%s: out of memory", path); }
    size_t n = fread(buf, 1, (size_t)st.st_size, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n != (size_t)st.st_size) { free(buf); return ark_fail(ARK_ERR_IO, "%s: read failed", path); }
    buf[n] = '\0';
    *out = buf;
    if (len) *len = n;
    return ARK_OK;
}

char *ark_path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    memcpy(p, dir, a);
    size_t n = a;
    if (a && dir[a - 1] != '/') p[n++] = '/';
    memcpy(p + n, name, b + 1);
    return p;
}

bool ark_file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

bool ark_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

ark_status ark_mkdirs(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return ark_fail(ARK_ERR_IO, "%s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) return ark_fail(ARK_ERR_IO, "%s: %s", buf, strerror(errno));
    if (!ark_is_dir(buf)) return ark_fail(ARK_ERR_IO, "%s: exists and is not a directory", buf);
    return ARK_OK;
}

ark_status ark_write_file_atomic(const char *path, const void *data, size_t len)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) return ark_fail(ARK_ERR_IO, "%s: %s", path, strerror(errno));
    size_t n = fwrite(data, 1, len, f);
    int bad = (n != len) | (fflush(f) != 0) | (fsync(fileno(f)) != 0);
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return ark_fail(ARK_ERR_IO, "%s: write failed: %s", path, strerror(e));
    }
    return ARK_OK;
}
