/// The points of a backup or a restore where the work so far is complete and the rest not begun:
/// where an observer hears how far it got.
///
/// Each is a place where a SIGKILL must leave a repository `git fsck` accepts and a live database
/// untouched or wholly replaced; the test kit's companion stops at one so a test can kill it
/// there. opsd and opsctl-backup observe none.
public enum BackupStep: String, Sendable, CaseIterable {
    /// The snapshots are taken; nothing is written to the repository yet.
    case afterSnapshot = "after-snapshot"
    /// The packs (blobs, trees, commit) are written; the branch does not point at them yet.
    case beforeReference = "before-reference"
    /// The branch points at the new commit; the local base copies are not updated yet.
    case afterReference = "after-reference"
    /// A restore has verified the rebuilt file and is about to move the live one aside.
    case beforeSwap = "before-swap"
}

/// Hears each step as a backup or restore reaches it, on the thread doing the work, which goes
/// on when it returns.
public typealias BackupStepObserver = @Sendable (BackupStep) -> Void
