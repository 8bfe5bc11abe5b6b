#!/usr/bin/env bash
# `cmake --install` puts the library, headers, command and arrakis.pc in a
# prefix, and a program builds against it with pkg-config alone.
set -u
build=${ARK_BUILD:?}
src=${ARK_SRC:?}
fx=${ARK_FIXTURES:?}
source "${ARK_SRC:?}/tests/shlib.sh"
test_begin cli_install

check cmake --install "$build" --prefix "$tmp/prefix"
export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig:$tmp/prefix/lib64/pkgconfig:$tmp/prefix/lib/x86_64-linux-gnu/pkgconfig"
check test -f "$tmp/prefix/include/arrakis/arrakis.h"
check test -x "$tmp/prefix/bin/arrakis"
# shared (default) and static linking
cflags=${ARK_CFLAGS:-}   # the sanitizer build's library needs its runtime
check sh -c "cc $cflags '$src/examples/predict.c' \$(pkg-config --cflags --libs arrakis) -Wl,-rpath,\$(pkg-config --variable=libdir arrakis) -o '$tmp/predict'"
check sh -c "'$tmp/predict' '$fx/models/gpt2' 12 7 99 | grep -q 'next token:'"
check sh -c "cc $cflags '$src/examples/predict.c' \$(pkg-config --cflags arrakis) \$(pkg-config --libs --static arrakis | sed 's/-larrakis/-l:libarrakis.a/') -o '$tmp/predict_static'"
check sh -c "'$tmp/predict_static' '$fx/models/llama' 1 2 3 | grep -q 'next token:'"
test_end
