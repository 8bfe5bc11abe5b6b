/* The interactive views' templates, embedded at build time
 * (src/plot/views/embed.cmake writes the table from src/plot/views/). */
#ifndef ARK_PLOT_VIEWS_H
#define ARK_PLOT_VIEWS_H

#include <stddef.h>

typedef struct ark_view_asset {
    const char *name; /* file name: "attention.html", "common.css", ... */
    const char *data; /* its bytes, NUL-terminated */
    size_t len;
} ark_view_asset;

/* Every template, ended by an entry with name NULL. */
extern const ark_view_asset ark_view_assets[];

#endif
