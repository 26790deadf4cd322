#ifndef OPSD_CISAL_SHIM_H
#define OPSD_CISAL_SHIM_H

// Intel's ISA-L deflate (Debian's libisal2): zlib streams that any zlib reads, written about five
// times as fast as zlib's fastest level with a smaller result, and read back faster than zlib; and
// its CRC-32 (`crc32_gzip_refl`, zlib's own polynomial and values, ten times zlib's speed here).
// Its stateless calls take structs and size macros Swift cannot use directly, so each is wrapped
// in one fixed-signature function.

#include <isa-l/crc.h>
#include <isa-l/igzip_lib.h>
#include <stdint.h>
#include <stdlib.h>

/// Deflates `in` into `out` as one zlib stream (header, deflate at ISA-L's level 1, Adler-32).
/// Returns the bytes written, or 0 when `out` is too small, `in` is over 4 GiB, or memory runs out:
/// the caller then uses zlib.
static inline size_t opsd_isal_zlib_deflate(const uint8_t *in, size_t length, uint8_t *out, size_t capacity) {
    if (length > UINT32_MAX || capacity > UINT32_MAX) return 0;
    uint8_t *levelBuffer = malloc(ISAL_DEF_LVL1_DEFAULT);
    if (levelBuffer == NULL) return 0;
    struct isal_zstream stream;
    isal_deflate_stateless_init(&stream);
    stream.level = 1;
    stream.level_buf = levelBuffer;
    stream.level_buf_size = ISAL_DEF_LVL1_DEFAULT;
    stream.gzip_flag = IGZIP_ZLIB;
    stream.end_of_stream = 1;
    stream.flush = NO_FLUSH;
    stream.next_in = (uint8_t *)in;
    stream.avail_in = (uint32_t)length;
    stream.next_out = out;
    stream.avail_out = (uint32_t)capacity;
    int result = isal_deflate_stateless(&stream);
    free(levelBuffer);
    return result == COMP_OK && stream.avail_in == 0 ? stream.total_out : 0;
}

/// Inflates the zlib stream `in` into `out`, checking its Adler-32. Returns 0 on success with
/// `*produced` bytes written, otherwise ISA-L's status: a damaged stream or checksum (negative), a
/// stream that ends early (1) or an `out` too small for it (2).
static inline int opsd_isal_zlib_inflate(const uint8_t *in, size_t length, uint8_t *out, size_t capacity, size_t *produced) {
    *produced = 0;
    if (length > UINT32_MAX || capacity > UINT32_MAX) return ISAL_INVALID_BLOCK;
    struct inflate_state *state = malloc(sizeof(struct inflate_state));
    if (state == NULL) return ISAL_INVALID_BLOCK;
    isal_inflate_init(state);
    state->crc_flag = ISAL_ZLIB;
    state->next_in = (uint8_t *)in;
    state->avail_in = (uint32_t)length;
    state->next_out = out;
    state->avail_out = (uint32_t)capacity;
    int result = isal_inflate_stateless(state);
    *produced = state->total_out;
    free(state);
    return result;
}

#endif
