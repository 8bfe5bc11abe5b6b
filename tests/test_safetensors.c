/* safetensors: float conversions against hand-written bit patterns, writer
 * round trips, the shared GPT-2 fixture, and every malformed-header case. */
#include "testutil.h"

#include "arrakis/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- helpers ---- */

static int file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Write an 8-byte little-endian `hlen`, the header text, then `ndata`
 * data bytes (0, 1, 2, ...).  Returns the path (static buffer). */
static const char *write_raw(const char *name, uint64_t hlen, const char *header, size_t ndata)
{
    static char path[4096];
    const char *dir = scratch_dir("st_raw");
    assert_non_null(dir);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    uint8_t len[8];
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)(hlen >> (8 * i));
    assert_int_equal(fwrite(len, 1, 8, fp), 8);
    size_t hl = strlen(header);
    assert_int_equal(fwrite(header, 1, hl, fp), hl);
    for (size_t i = 0; i < ndata; i++) fputc((int)(i & 0xFF), fp);
    assert_int_equal(fclose(fp), 0);
    return path;
}

static const char *write_header(const char *name, const char *header, size_t ndata)
{
    return write_raw(name, strlen(header), header, ndata);
}

/* Open must fail with `code`, and the message must name the file and `word`. */
static void expect_open_error(const char *path, ark_status code, const char *word)
{
    ark_st_file *f = (ark_st_file *)1;
    ark_status st = ark_st_open(path, &f);
    const char *msg = ark_errmsg();
    if (st != code || !strstr(msg, path) || !strstr(msg, word))
        print_error("expected %s with \"%s\", got %s: %s\n", ark_status_name(code), word,
                    ark_status_name(st), msg);
    assert_int_equal(st, code);
    assert_null(f);
    assert_non_null(strstr(msg, path));
    assert_non_null(strstr(msg, word));
}

static ark_st_file *open_ok(const char *path)
{
    ark_st_file *f = NULL;
    ark_status st = ark_st_open(path, &f);
    if (st != ARK_OK) print_error("%s\n", ark_errmsg());
    assert_int_equal(st, ARK_OK);
    assert_non_null(f);
    return f;
}

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

/* ---- conversions ---- */

static void test_f32_to_f16_bits(void **state)
{
    (void)state;
    assert_int_equal(ark_f32_to_f16(1.0f), 0x3C00);
    assert_int_equal(ark_f32_to_f16(-2.0f), 0xC000);
    assert_int_equal(ark_f32_to_f16(65504.0f), 0x7BFF);
    assert_int_equal(ark_f32_to_f16(0.0f), 0x0000);
    assert_int_equal(ark_f32_to_f16(-0.0f), 0x8000);
    assert_int_equal(ark_f32_to_f16(0.5f), 0x3800);
    assert_int_equal(ark_f32_to_f16(ldexpf(1, -24)), 0x0001);      /* smallest subnormal */
    assert_int_equal(ark_f32_to_f16(ldexpf(1023, -24)), 0x03FF);   /* largest subnormal */
    assert_int_equal(ark_f32_to_f16(ldexpf(1, -14)), 0x0400);      /* smallest normal */
    assert_int_equal(ark_f32_to_f16(ldexpf(1, -25)), 0x0000);      /* tie 0 | 2^-24: even is 0 */
    assert_int_equal(ark_f32_to_f16(ldexpf(3, -26)), 0x0001);      /* 1.5 * 2^-25: above the tie */
    assert_int_equal(ark_f32_to_f16(ldexpf(3, -25)), 0x0002);      /* tie 1 | 2 ulps: even is 2 */
    assert_int_equal(ark_f32_to_f16(ldexpf(5, -25)), 0x0002);      /* tie 2 | 3 ulps: even is 2 */
    assert_int_equal(ark_f32_to_f16(1.0f + ldexpf(1, -11)), 0x3C00); /* tie, even mantissa 0 */
    assert_int_equal(ark_f32_to_f16(1.0f + ldexpf(3, -11)), 0x3C02); /* tie, even mantissa 2 */
    assert_int_equal(ark_f32_to_f16(2047.0f + 0.5f), 0x6800);      /* 2047.5 -> 2048 (ties to even) */
    assert_int_equal(ark_f32_to_f16(65519.0f), 0x7BFF);            /* below the tie */
    assert_int_equal(ark_f32_to_f16(65520.0f), 0x7C00);            /* the tie rounds to inf */
    assert_int_equal(ark_f32_to_f16(1e10f), 0x7C00);
    assert_int_equal(ark_f32_to_f16(-1e10f), 0xFC00);
    assert_int_equal(ark_f32_to_f16(INFINITY), 0x7C00);
    assert_int_equal(ark_f32_to_f16(-INFINITY), 0xFC00);
    assert_int_equal(ark_f32_to_f16(ldexpf(1, -130)), 0x0000);     /* f32 subnormal */
    uint16_t nan = ark_f32_to_f16(NAN);
    assert_int_equal(nan & 0x7C00, 0x7C00);
    assert_true((nan & 0x3FF) != 0);
}

static void test_f16_to_f32(void **state)
{
    (void)state;
    assert_true(ark_f16_to_f32(0x3C00) == 1.0f);
    assert_true(ark_f16_to_f32(0xC000) == -2.0f);
    assert_true(ark_f16_to_f32(0x7BFF) == 65504.0f);
    assert_true(ark_f16_to_f32(0x3555) == 0.333251953125f);
    assert_true(ark_f16_to_f32(0x0001) == ldexpf(1, -24));
    assert_true(ark_f16_to_f32(0x03FF) == ldexpf(1023, -24));
    assert_true(ark_f16_to_f32(0x8001) == -ldexpf(1, -24));
    assert_true(ark_f16_to_f32(0x0400) == ldexpf(1, -14));
    float nz = ark_f16_to_f32(0x8000);
    assert_true(nz == 0.0f && signbit(nz));
    assert_true(isinf(ark_f16_to_f32(0x7C00)) && ark_f16_to_f32(0x7C00) > 0);
    assert_true(isinf(ark_f16_to_f32(0xFC00)) && ark_f16_to_f32(0xFC00) < 0);
    assert_true(isnan(ark_f16_to_f32(0x7E00)));
    assert_true(isnan(ark_f16_to_f32(0x7C01)));
    /* every finite f16 survives f16 -> f32 -> f16 */
    for (uint32_t h = 0; h < 0x10000; h++)
        if ((h & 0x7C00) != 0x7C00) assert_int_equal(ark_f32_to_f16(ark_f16_to_f32((uint16_t)h)), h);
}

static void test_bf16(void **state)
{
    (void)state;
    assert_int_equal(ark_f32_to_bf16(1.0f), 0x3F80);
    assert_int_equal(ark_f32_to_bf16(-2.0f), 0xC000);
    assert_int_equal(ark_f32_to_bf16(3.140625f), 0x4049);
    assert_int_equal(ark_f32_to_bf16(1.0f + ldexpf(1, -8)), 0x3F80); /* tie, even */
    assert_int_equal(ark_f32_to_bf16(1.0f + ldexpf(3, -8)), 0x3F82); /* tie, even */
    assert_int_equal(ark_f32_to_bf16(1.0f + ldexpf(3, -9)), 0x3F81); /* above half */
    assert_int_equal(ark_f32_to_bf16(3.4028235e38f), 0x7F80);        /* FLT_MAX rounds to inf */
    assert_int_equal(ark_f32_to_bf16(-INFINITY), 0xFF80);
    uint16_t nan = ark_f32_to_bf16(NAN);
    assert_int_equal(nan & 0x7F80, 0x7F80);
    assert_true((nan & 0x7F) != 0);
    assert_true(ark_bf16_to_f32(0x3F80) == 1.0f);
    assert_true(ark_bf16_to_f32(0xC000) == -2.0f);
    assert_true(ark_bf16_to_f32(0x4049) == 3.140625f);
    assert_true(isnan(ark_bf16_to_f32(0x7FC0)));
}

/* ---- writer round trips ---- */

static void test_round_trip(void **state)
{
    (void)state;
    char path[4096];
    snprintf(path, sizeof path, "%s/rt.safetensors", scratch_dir("st_rt"));

    const float w32[6] = {1.5f, -2.25f, 0.0f, 3e-5f, 1e30f, -7.0f};
    const float w16[5] = {1.0f, -2.0f, 65504.0f, ldexpf(1, -24), 1.0f + ldexpf(3, -11)};
    const uint16_t w16_bits[5] = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x3C02};
    const float wbf[3] = {1.0f, -2.0f, 1.0f + ldexpf(3, -8)};
    const uint16_t wbf_bits[3] = {0x3F80, 0xC000, 0x3F82};
    const int32_t ids[4] = {7, -1, 2147483647, 0};
    const float scalar = 42.0f;
    const int64_t s23[2] = {2, 3}, s5[1] = {5}, s3[1] = {3}, s4[1] = {4}, s04[2] = {0, 4};

    ark_st_writer *w = ark_st_writer_new();
    assert_non_null(w);
    assert_int_equal(ark_st_writer_add_f32(w, "a.f32", ARK_F32, w32, 2, s23), ARK_OK);
    assert_int_equal(ark_st_writer_add_f32(w, "b.f16", ARK_F16, w16, 1, s5), ARK_OK);
    assert_int_equal(ark_st_writer_add_f32(w, "c.bf16", ARK_BF16, wbf, 1, s3), ARK_OK);
    assert_int_equal(ark_st_writer_add_raw(w, "d.ids", ARK_I32, ids, 1, s4), ARK_OK);
    assert_int_equal(ark_st_writer_add_f32(w, "e.scalar", ARK_F32, &scalar, 0, NULL), ARK_OK);
    assert_int_equal(ark_st_writer_add_f32(w, "f.empty", ARK_F32, NULL, 2, s04), ARK_OK);
    assert_int_equal(ark_st_writer_set_metadata(w, "format", "np"), ARK_OK);
    assert_int_equal(ark_st_writer_set_metadata(w, "format", "pt"), ARK_OK); /* replaces */
    assert_int_equal(ark_st_writer_set_metadata(w, "note", "caf\xc3\xa9 \"quoted\""), ARK_OK);
    assert_int_equal(ark_st_writer_add_f32(w, "b.f16", ARK_F32, w32, 1, s3), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "b.f16"));
    assert_int_equal(ark_st_writer_add_f32(w, "x", ARK_I32, w32, 1, s3), ARK_ERR_ARG);
    assert_int_equal(ark_st_writer_save(w, path), ARK_OK);
    ark_st_writer_free(w);

    /* The bytes on disk, checked by hand: header padded to 8 with spaces,
     * F16/BF16 bit patterns little-endian right after it. */
    size_t len;
    uint8_t *raw = (uint8_t *)read_file(path, &len);
    assert_non_null(raw);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | raw[i];
    assert_int_equal(hlen % 8, 0);
    assert_int_equal(len, 8 + hlen + 24 + 10 + 6 + 16 + 4);
    assert_int_equal(raw[8], '{');
    assert_non_null(strstr((char *)raw + 8, "\"__metadata__\""));
    const uint8_t *data = raw + 8 + hlen;
    for (int i = 0; i < 5; i++) assert_int_equal(le16(data + 24 + 2 * i), w16_bits[i]);
    for (int i = 0; i < 3; i++) assert_int_equal(le16(data + 34 + 2 * i), wbf_bits[i]);
    free(raw);

    ark_st_file *f = open_ok(path);
    assert_int_equal(ark_st_count(f), 6);
    assert_string_equal(ark_st_path(f), path);
    assert_string_equal(ark_st_metadata(f, "format"), "pt");
    assert_string_equal(ark_st_metadata(f, "note"), "caf\xc3\xa9 \"quoted\"");
    assert_null(ark_st_metadata(f, "absent"));
    assert_null(ark_st_find(f, "absent"));
    /* ark_st_at: in data-offset order (zero-size ones sort at their offset) */
    for (int i = 1; i < ark_st_count(f); i++)
        assert_true((const char *)ark_st_at(f, i)->data >= (const char *)ark_st_at(f, i - 1)->data);
    assert_null(ark_st_at(f, 6));

    const ark_st_tensor *t = ark_st_find(f, "a.f32");
    assert_non_null(t);
    assert_int_equal(t->dtype, ARK_F32);
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->shape[0], 2);
    assert_int_equal(t->shape[1], 3);
    assert_int_equal(t->numel, 6);
    assert_int_equal(t->nbytes, 24);
    float *v;
    bool owned;
    assert_int_equal(ark_st_to_f32(f, t, &v, &owned), ARK_OK);
    assert_false(owned); /* aligned F32 is mapped in place */
    assert_memory_equal(v, w32, sizeof w32);

    t = ark_st_find(f, "b.f16");
    assert_int_equal(t->dtype, ARK_F16);
    assert_int_equal(ark_st_to_f32(f, t, &v, &owned), ARK_OK);
    assert_true(owned);
    const float w16_back[5] = {1.0f, -2.0f, 65504.0f, ldexpf(1, -24), 1.0f + ldexpf(1, -9)};
    for (int i = 0; i < 5; i++) assert_true(v[i] == w16_back[i]); /* the last one rounded */
    free(v);

    t = ark_st_find(f, "c.bf16");
    assert_int_equal(ark_st_to_f32(f, t, &v, &owned), ARK_OK);
    assert_true(v[0] == 1.0f && v[1] == -2.0f && v[2] == 1.0f + ldexpf(1, -6));
    free(v);

    t = ark_st_find(f, "d.ids");
    assert_int_equal(t->dtype, ARK_I32);
    assert_memory_equal(t->data, ids, sizeof ids);
    assert_int_equal(ark_st_to_f32(f, t, &v, &owned), ARK_ERR_SHAPE);
    assert_non_null(strstr(ark_errmsg(), "d.ids"));
    assert_non_null(strstr(ark_errmsg(), "I32"));

    t = ark_st_find(f, "e.scalar");
    assert_int_equal(t->ndim, 0);
    assert_int_equal(t->numel, 1);
    assert_int_equal(ark_st_to_f32(f, t, &v, &owned), ARK_OK);
    assert_true(v[0] == 42.0f);
    if (owned) free(v);

    t = ark_st_find(f, "f.empty");
    assert_int_equal(t->numel, 0);
    assert_int_equal(t->nbytes, 0);
    assert_int_equal(ark_st_to_f32(f, t, &v, &owned), ARK_OK);
    if (owned) free(v);
    ark_st_close(f);
}

/* F32 after a 2-byte F16 tensor sits at an odd offset: converted by copy.
 * F64 is narrowed.  No metadata: no "__metadata__" key in the header. */
static void test_unaligned_and_f64(void **state)
{
    (void)state;
    char path[4096];
    snprintf(path, sizeof path, "%s/u.safetensors", scratch_dir("st_u"));
    const float one = 1.0f, w32[3] = {0.25f, -8.0f, 1e-3f};
    const double w64[2] = {1.5, -0.1};
    const int64_t s1[1] = {1}, s3[1] = {3}, s2[1] = {2};
    ark_st_writer *w = ark_st_writer_new();
    assert_int_equal(ark_st_writer_add_f32(w, "h", ARK_F16, &one, 1, s1), ARK_OK);
    assert_int_equal(ark_st_writer_add_f32(w, "f", ARK_F32, w32, 1, s3), ARK_OK);
    assert_int_equal(ark_st_writer_add_raw(w, "d", ARK_F64, w64, 1, s2), ARK_OK);
    assert_int_equal(ark_st_writer_save(w, path), ARK_OK);
    ark_st_writer_free(w);

    char *raw = read_file(path, NULL);
    assert_null(strstr(raw + 8, "__metadata__"));
    free(raw);

    ark_st_file *f = open_ok(path);
    assert_null(ark_st_metadata(f, "format"));
    const ark_st_tensor *t = ark_st_find(f, "f");
    float *v;
    bool owned;
    assert_int_equal(ark_st_to_f32(f, t, &v, &owned), ARK_OK);
    assert_true(owned);
    assert_memory_equal(v, w32, sizeof w32);
    free(v);
    assert_int_equal(ark_st_to_f32(f, ark_st_find(f, "d"), &v, &owned), ARK_OK);
    assert_true(owned && v[0] == 1.5f && v[1] == -0.1f);
    free(v);
    ark_st_close(f);
}

/* Thousands of tensors: every one is found by name. */
static void test_many_tensors(void **state)
{
    (void)state;
    enum { N = 5000 };
    char path[4096], name[64];
    snprintf(path, sizeof path, "%s/many.safetensors", scratch_dir("st_many"));
    static float vals[N];
    const int64_t s1[1] = {1};
    ark_st_writer *w = ark_st_writer_new();
    for (int i = 0; i < N; i++) {
        vals[i] = (float)i;
        snprintf(name, sizeof name, "model.layers.%d.weight", i);
        assert_int_equal(ark_st_writer_add_f32(w, name, ARK_F32, &vals[i], 1, s1), ARK_OK);
    }
    assert_int_equal(ark_st_writer_add_f32(w, "model.layers.17.weight", ARK_F32, vals, 1, s1), ARK_ERR_ARG);
    assert_non_null(strstr(ark_errmsg(), "model.layers.17.weight"));
    assert_int_equal(ark_st_writer_save(w, path), ARK_OK);
    ark_st_writer_free(w);
    ark_st_file *f = open_ok(path);
    assert_int_equal(ark_st_count(f), N);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "model.layers.%d.weight", i);
        const ark_st_tensor *t = ark_st_find(f, name);
        assert_non_null(t);
        assert_true(*(const float *)t->data == (float)i);
        assert_true(ark_st_at(f, i) == t); /* added in order = offset order */
    }
    ark_st_close(f);
}

/* ---- write failures leave nothing behind ---- */

static void test_write_errors(void **state)
{
    (void)state;
    const char *dir = scratch_dir("st_werr");
    char path[4096], tmp[4200];
    const float x[4] = {1, 2, 3, 4};
    const int64_t s4[1] = {4};
    ark_st_writer *w = ark_st_writer_new();
    assert_int_equal(ark_st_writer_add_f32(w, "x", ARK_F32, x, 1, s4), ARK_OK);

    /* missing folder */
    snprintf(path, sizeof path, "%s/no/such/dir/out.safetensors", dir);
    assert_int_equal(ark_st_writer_save(w, path), ARK_ERR_IO);
    assert_non_null(strstr(ark_errmsg(), path));
    assert_non_null(strstr(ark_errmsg(), strerror(ENOENT)));
    assert_false(file_exists(path));

    /* rename onto a directory fails after writing: the temporary is removed */
    snprintf(path, sizeof path, "%s/adir", dir);
    assert_int_equal(mkdir(path, 0777), 0);
    assert_int_equal(ark_st_writer_save(w, path), ARK_ERR_IO);
    assert_non_null(strstr(ark_errmsg(), path));
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    assert_false(file_exists(tmp));
    ark_st_writer_free(w);

    /* a write that runs out of room (file size limit: EFBIG) */
    static float big[1 << 16];
    const int64_t sbig[1] = {1 << 16};
    w = ark_st_writer_new();
    assert_int_equal(ark_st_writer_add_f32(w, "big", ARK_F32, big, 1, sbig), ARK_OK);
    snprintf(path, sizeof path, "%s/big.safetensors", dir);
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 4096;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    ark_status st = ark_st_writer_save(w, path);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, prev);
    assert_int_equal(st, ARK_ERR_IO);
    assert_non_null(strstr(ark_errmsg(), path));
    assert_non_null(strstr(ark_errmsg(), strerror(EFBIG)));
    assert_false(file_exists(path));
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    assert_false(file_exists(tmp));
    ark_st_writer_free(w);
}

/* ---- the shared GPT-2 fixture ---- */

static cJSON *load_json(const char *path)
{
    char *text = read_file(path, NULL);
    assert_non_null(text);
    cJSON *j = cJSON_Parse(text);
    free(text);
    assert_non_null(j);
    return j;
}

static void test_gpt2_fixture(void **state)
{
    (void)state;
    cJSON *refs = load_json(fixture_path("models/gpt2/refs.json"));
    cJSON *config = load_json(fixture_path("models/gpt2/config.json"));
    const cJSON *names = cJSON_GetObjectItem(cJSON_GetObjectItem(refs, "model_safetensors"), "tensors");
    assert_true(cJSON_IsArray(names));

    ark_st_file *f = open_ok(fixture_path("models/gpt2/model.safetensors"));
    assert_int_equal(ark_st_count(f), cJSON_GetArraySize(names));
    const cJSON *n;
    cJSON_ArrayForEach(n, names) assert_non_null(ark_st_find(f, n->valuestring));
    assert_string_equal(ark_st_metadata(f, "format"), "pt");

    /* wte is (vocab_size, n_embd) per config.json */
    const ark_st_tensor *t = ark_st_find(f, "transformer.wte.weight");
    assert_non_null(t);
    assert_int_equal(t->dtype, ARK_F32);
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->shape[0], cJSON_GetObjectItem(config, "vocab_size")->valueint);
    assert_int_equal(t->shape[1], cJSON_GetObjectItem(config, "n_embd")->valueint);
    float *v;
    bool owned;
    assert_int_equal(ark_st_to_f32(f, t, &v, &owned), ARK_OK);
    assert_false(owned);
    for (int64_t i = 0; i < t->numel; i++) assert_true(isfinite(v[i]));
    ark_st_close(f);

    /* reference.safetensors: seq0.input_ids (I64) equal refs.json's ids */
    f = open_ok(fixture_path("models/gpt2/reference.safetensors"));
    const cJSON *seq0 = cJSON_GetArrayItem(cJSON_GetObjectItem(refs, "sequences"), 0);
    const cJSON *ids = cJSON_GetObjectItem(seq0, "input_ids");
    t = ark_st_find(f, "seq0.input_ids");
    assert_non_null(t);
    assert_int_equal(t->dtype, ARK_I64);
    assert_int_equal(t->numel, cJSON_GetArraySize(ids));
    for (int i = 0; i < t->numel; i++) {
        int64_t id;
        memcpy(&id, (const char *)t->data + 8 * i, 8);
        assert_int_equal(id, cJSON_GetArrayItem(ids, i)->valueint);
    }
    ark_st_close(f);
    cJSON_Delete(refs);
    cJSON_Delete(config);
}

/* ---- valid edge cases built by hand ---- */

static void test_valid_edge_cases(void **state)
{
    (void)state;
    ark_st_file *f = open_ok(write_header("empty.safetensors", "{}", 0));
    assert_int_equal(ark_st_count(f), 0);
    assert_null(ark_st_at(f, 0));
    ark_st_close(f);

    f = open_ok(write_header("padded.safetensors", "{\"__metadata__\":{}}    ", 0));
    assert_int_equal(ark_st_count(f), 0);
    ark_st_close(f);

    /* a scalar, zero-size tensors (one inside another's range), unsorted keys, gaps */
    f = open_ok(write_header("edge.safetensors",
                             "{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]},"
                             "\"z\":{\"dtype\":\"F16\",\"shape\":[3,0],\"data_offsets\":[12,12]},"
                             "\"s\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[16,24]},"
                             "\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                             "\"e\":{\"dtype\":\"BOOL\",\"shape\":[0],\"data_offsets\":[24,24]}}",
                             24));
    assert_int_equal(ark_st_count(f), 5);
    const char *order[5] = {"a", "b", "z", "s", "e"};
    for (int i = 0; i < 5; i++) assert_string_equal(ark_st_at(f, i)->name, order[i]);
    const ark_st_tensor *s = ark_st_find(f, "s");
    assert_int_equal(s->ndim, 0);
    assert_int_equal(s->numel, 1);
    assert_int_equal(ark_st_find(f, "z")->numel, 0);
    assert_int_equal(((const uint8_t *)ark_st_find(f, "a")->data)[3], 3);
    ark_st_close(f);
}

/* ---- malformed files ---- */

static void test_short_and_length(void **state)
{
    (void)state;
    const char *dir = scratch_dir("st_short");
    char path[4096];
    snprintf(path, sizeof path, "%s/zero.safetensors", dir);
    FILE *fp = fopen(path, "wb");
    fclose(fp);
    expect_open_error(path, ARK_ERR_FORMAT, "shorter than the 8-byte");
    snprintf(path, sizeof path, "%s/five.safetensors", dir);
    fp = fopen(path, "wb");
    fwrite("\x02\0\0\0\0", 1, 5, fp);
    fclose(fp);
    expect_open_error(path, ARK_ERR_FORMAT, "5 bytes");

    snprintf(path, sizeof path, "%s/absent.safetensors", dir);
    expect_open_error(path, ARK_ERR_IO, strerror(ENOENT));

    const char *p = write_raw("long.safetensors", 1000, "{}", 10);
    expect_open_error(p, ARK_ERR_FORMAT, "header length 1000");
    expect_open_error(p, ARK_ERR_FORMAT, "file size 20");
    p = write_raw("huge.safetensors", UINT64_MAX, "{}", 0);
    expect_open_error(p, ARK_ERR_FORMAT, "header length 18446744073709551615");
}

typedef struct bad_case {
    const char *what;
    const char *header;
    size_t ndata;
    ark_status code;
    const char *word; /* must appear in the message (besides the file name) */
} bad_case;

#define T_(name, body) "\"" name "\":{" body "}"
static const bad_case bad_cases[] = {
    {"not JSON", "{\"a\": {", 0, ARK_ERR_FORMAT, "not valid JSON"},
    {"empty header", "", 0, ARK_ERR_FORMAT, "not valid JSON"},
    {"trailing bytes", "{} x", 0, ARK_ERR_FORMAT, "not valid JSON"},
    {"not an object", "[1, 2]", 0, ARK_ERR_FORMAT, "expected a JSON object"},
    {"entry not object", "{\"w\": 3}", 0, ARK_ERR_FORMAT, "'w'"},
    {"no dtype", "{" T_("w.nodtype", "\"shape\":[1],\"data_offsets\":[0,4]") "}", 4, ARK_ERR_FORMAT,
     "w.nodtype': missing \"dtype\""},
    {"no shape", "{" T_("w.noshape", "\"dtype\":\"F32\",\"data_offsets\":[0,4]") "}", 4, ARK_ERR_FORMAT,
     "w.noshape': missing \"shape\""},
    {"no offsets", "{" T_("w.nooff", "\"dtype\":\"F32\",\"shape\":[1]") "}", 4, ARK_ERR_FORMAT,
     "w.nooff': missing \"data_offsets\""},
    {"dtype type", "{" T_("w.dt", "\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]") "}", 4,
     ARK_ERR_FORMAT, "w.dt': \"dtype\" is a number"},
    {"shape type", "{" T_("w.st", "\"dtype\":\"F32\",\"shape\":\"1\",\"data_offsets\":[0,4]") "}", 4,
     ARK_ERR_FORMAT, "w.st': \"shape\" is a string"},
    {"offsets type", "{" T_("w.ot", "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{}") "}", 4,
     ARK_ERR_FORMAT, "w.ot': \"data_offsets\""},
    {"offsets count", "{" T_("w.oc", "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]") "}", 4,
     ARK_ERR_FORMAT, "w.oc': \"data_offsets\""},
    {"offset string", "{" T_("w.os", "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,\"4\"]") "}", 4,
     ARK_ERR_FORMAT, "w.os': \"data_offsets\""},
    {"negative offset", "{" T_("w.on", "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]") "}", 4,
     ARK_ERR_FORMAT, "w.on': \"data_offsets\""},
    {"unknown dtype", "{" T_("w.ud", "\"dtype\":\"F17\",\"shape\":[1],\"data_offsets\":[0,4]") "}", 4,
     ARK_ERR_FORMAT, "w.ud': unknown dtype \"F17\" (known: F32, F16, BF16"},
    {"spec-only dtype", "{" T_("w.u32", "\"dtype\":\"U32\",\"shape\":[1],\"data_offsets\":[0,4]") "}", 4,
     ARK_ERR_UNSUPPORTED, "w.u32': dtype \"U32\" is not supported"},
    {"negative dim", "{" T_("w.nd", "\"dtype\":\"F32\",\"shape\":[2,-3],\"data_offsets\":[0,4]") "}", 4,
     ARK_ERR_FORMAT, "w.nd': shape[1] is -3"},
    {"fractional dim", "{" T_("w.fd", "\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]") "}", 4,
     ARK_ERR_FORMAT, "w.fd': shape[0] is 1.5"},
    {"string dim", "{" T_("w.sd", "\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]") "}", 8,
     ARK_ERR_FORMAT, "w.sd': shape[0]"},
    {"too many dims", "{" T_("w.9d", "\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]") "}",
     4, ARK_ERR_UNSUPPORTED, "w.9d': shape has 9 dims"},
    {"size mismatch", "{" T_("w.sz", "\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]") "}", 20,
     ARK_ERR_FORMAT, "w.sz': dtype F32 shape [2, 3] needs 24 bytes, but data_offsets [0, 20] span 20"},
    {"size overflow",
     "{" T_("w.of", "\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]") "}", 0,
     ARK_ERR_FORMAT, "w.of': dtype F64 shape [4294967296, 4294967296] needs more than 2^64 bytes"},
    {"size overflow by dtype",
     "{" T_("w.of2", "\"dtype\":\"F32\",\"shape\":[1125899906842624,4096],\"data_offsets\":[0,0]") "}", 0,
     ARK_ERR_FORMAT, "w.of2': dtype F32 shape [1125899906842624, 4096] needs more than 2^64 bytes"},
    {"dim beyond 2^53",
     "{" T_("w.big", "\"dtype\":\"U8\",\"shape\":[18014398509481985],\"data_offsets\":[0,0]") "}", 0,
     ARK_ERR_FORMAT, "w.big': shape[0]"},
    {"begin > end", "{" T_("w.be", "\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]") "}", 8,
     ARK_ERR_FORMAT, "w.be': data_offsets [8, 4] has begin > end"},
    {"past end", "{" T_("w.pe", "\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]") "}", 12,
     ARK_ERR_FORMAT, "w.pe': data_offsets [0, 16] end past the data area of 12 bytes"},
    {"overlap",
     "{" T_("w.one", "\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]") ","
         T_("w.two", "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]") "}", 20,
     ARK_ERR_FORMAT, "'w.one' [0, 16] and 'w.two' [12, 20] overlap"},
    {"same range",
     "{" T_("w.b", "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]") ","
         T_("w.a", "\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]") "}", 8,
     ARK_ERR_FORMAT, "overlap"},
    {"duplicate name",
     "{" T_("w.dup", "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]") ","
         T_("w.dup", "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]") "}", 8,
     ARK_ERR_FORMAT, "'w.dup' appears twice"},
    {"metadata value", "{\"__metadata__\":{\"format\":\"pt\",\"epoch\":3}}", 0, ARK_ERR_FORMAT,
     "\"__metadata__\" value for key \"epoch\" is a number"},
    {"metadata type", "{\"__metadata__\":[\"pt\"]}", 0, ARK_ERR_FORMAT, "\"__metadata__\" is an array"},
};

static void test_bad_headers(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof *bad_cases; i++) {
        const bad_case *c = &bad_cases[i];
        print_message("case: %s\n", c->what);
        expect_open_error(write_header("bad.safetensors", c->header, c->ndata), c->code, c->word);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f32_to_f16_bits),
        cmocka_unit_test(test_f16_to_f32),
        cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_unaligned_and_f64),
        cmocka_unit_test(test_many_tensors),
        cmocka_unit_test(test_write_errors),
        cmocka_unit_test(test_gpt2_fixture),
        cmocka_unit_test(test_valid_edge_cases),
        cmocka_unit_test(test_short_and_length),
        cmocka_unit_test(test_bad_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
