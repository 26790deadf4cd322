#pragma once
#include <git2.h>
// The in-memory object database backend: a backup writes its objects there and dumps them as one pack.
#include <git2/sys/mempack.h>
// zlib, which libgit2 links: backups deflate their own pack entries (PackFile.swift), on several threads.
#include <zlib.h>

// git_libgit2_opts is variadic, which Swift cannot call: one fixed-signature wrapper per option used.
// fsync packs, indexes and references before they are renamed into place, so a backup survives a power loss.
static inline int opsd_git_enable_fsync(void) { return git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1); }
// Restores verify every rebuilt file end to end (SHA-256 of the whole database), so libgit2's own
// per-object SHA-1 re-check on read (collision-detecting SHA-1, a quarter of a restore's time) is
// redundant; a corrupted object still fails, at zlib or at the SHA-256 check.
static inline int opsd_git_skip_read_verification(void) { return git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 0); }
// libgit2 maps packfiles in windows of 1 GiB up to 8 GiB in total by default: a backup or restore of
// a large database would map (and count as resident) the whole pack. Small windows bound that.
static inline int opsd_git_limit_mapped_windows(void) {
    int error = git_libgit2_opts(GIT_OPT_SET_MWINDOW_SIZE, (size_t)32 << 20);
    return error ? error : git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT, (size_t)128 << 20);
}
// The certificate authorities for https remotes, from a PEM file (a private CA). libgit2 built
// with mbedTLS (Debian's) ignores SSL_CERT_FILE, which git itself honours; opsctl-backup passes it on.
static inline int opsd_git_set_ca_file(const char *file) { return git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, file, (const char *)NULL); }
// libgit2 refuses a repository owned by another user (git's safe.directory rule), which stops root
// from restoring from the repository opsd's user keeps. opsd checks repositories itself, more
// strictly (FileSafety's TrustedDirectory: every ancestor, write bits, links), before it opens one
// for a backup or a restore, trusting root, itself and opsd's user only.
static inline int opsd_git_disable_owner_validation(void) { return git_libgit2_opts(GIT_OPT_SET_OWNER_VALIDATION, 0); }
