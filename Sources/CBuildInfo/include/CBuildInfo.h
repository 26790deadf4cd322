#ifndef CBUILDINFO_H
#define CBUILDINFO_H

/// The git commit this binary was built from, or "" when nobody stamped it.
///
/// The linker never sees the commit: a fixed marker with room after it sits in the binary, and
/// scripts/stamp-commit.sh writes the commit there after linking (scripts/release.sh and
/// scripts/deb.sh run it). So a new commit relinks nothing, and a build that was not stamped
/// (a debug build) says so instead of naming a commit it may not be.
const char *ops_build_commit(void);

#endif
