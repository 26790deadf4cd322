#include "CBuildInfo.h"

// The marker scripts/stamp-commit.sh looks for (it must occur exactly once in the binary), then
// 64 NUL bytes for the commit. A global the linker must keep and the compiler cannot fold: the
// only code that touches it returns its address.
#define OPS_STAMP_MARKER "OPS-BUILD-COMMIT:"
__attribute__((used)) const char ops_build_stamp[sizeof(OPS_STAMP_MARKER) - 1 + 64] = OPS_STAMP_MARKER;

const char *ops_build_commit(void) {
    return ops_build_stamp + sizeof(OPS_STAMP_MARKER) - 1;
}
