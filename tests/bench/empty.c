/* empty.c: libempty.so, a shared library with nothing in it: LD_PRELOAD of it is the floor for the load cost of
 * any preloaded library (opening, mapping and relocating one more object), against which libtorwrap.so's own
 * share is measured. */
int torwrap_bench_empty;
