/* LD_PRELOAD shim that makes eflomal reproducible (see xlcorpus/align/seeding.py).
 * eflomal seeds its samplers with fopen("/dev/urandom") + fread. When XLCORPUS_EFLOMAL_SEED
 * is set, fopen of /dev/urandom returns an in-memory stream of SplitMix64 output derived
 * from that seed and a per-process call counter; every other fopen is the real one. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t calls = 0;

FILE *fopen(const char *path, const char *mode) {
    static FILE *(*real_fopen)(const char *, const char *) = NULL;
    if (!real_fopen) real_fopen = (FILE *(*)(const char *, const char *))dlsym(RTLD_NEXT, "fopen");
    const char *seed = getenv("XLCORPUS_EFLOMAL_SEED");
    if (!seed || !path || strcmp(path, "/dev/urandom") != 0) return real_fopen(path, mode);
    pthread_mutex_lock(&lock);
    uint64_t call = calls++;
    pthread_mutex_unlock(&lock);
    uint64_t x = strtoull(seed, NULL, 10) ^ (0x9E3779B97F4A7C15ULL * (call + 1));
    const size_t size = 1 << 16;
    unsigned char *buf = malloc(size);
    if (!buf) return NULL;
    for (size_t i = 0; i < size; i += 8) {
        x += 0x9E3779B97F4A7C15ULL;
        uint64_t z = x;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        z ^= z >> 31;
        memcpy(buf + i, &z, 8);
    }
    return fmemopen(buf, size, "rb"); /* the small buffer lives as long as the process */
}
