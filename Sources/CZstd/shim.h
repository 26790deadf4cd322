#pragma once
// zstd (libzstd1, already loaded by libsystemd): byte-level deltas of a database against its previous
// backup, the frames `zstd --patch-from` makes. The stable-input flag is an experimental parameter
// (an enum value, no experimental symbol), exported here under a name Swift can see.
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

static const ZSTD_cParameter czstd_c_stableInBuffer = ZSTD_c_stableInBuffer;
