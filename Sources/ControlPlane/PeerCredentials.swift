import Glibc
import NIOCore

/// Who may talk to opsd on the control socket, beyond what the socket file's mode lets connect.
///
/// The mode (0660, group = the socket file's group) is the first gate, and the kernel enforces it
/// at connect(2). This is the second, for when the mode has been widened by hand or by a umask:
/// the kernel's record of the peer (`SO_PEERCRED`, `SO_PEERGROUPS`, taken at connect time, so no
/// race with the peer's pid being reused) must show root, opsd's own user, or a member of the
/// socket file's group. The groups come from `SO_PEERGROUPS` rather than `/proc/PID/status`:
/// under the shipped unit's `ProtectProc=invisible` opsd cannot read other users' `/proc` entries.
struct PeerPolicy: Sendable {
    /// The socket file's group.
    let socketGroup: gid_t
    /// opsd's effective user.
    let me: uid_t

    /// What the kernel recorded about a connected peer.
    struct Peer: Sendable {
        let pid: pid_t
        let uid: uid_t
        let gid: gid_t
        /// The peer's supplementary groups; nil when they could not be read.
        let groups: [gid_t]?
    }

    func admits(_ peer: Peer) -> Bool {
        if peer.uid == 0 || peer.uid == me || peer.gid == socketGroup { return true }
        return peer.groups?.contains(socketGroup) ?? false
    }

    /// The refusal's sentence, for the 403 answer.
    func refusal(for peer: Peer) -> String {
        "uid \(peer.uid) may not use opsd's control socket (only root, uid \(me) and members of group \(socketGroup) may); "
            + "run opsctl as one of them, or add the user to group \(socketGroup)"
    }

    /// Reads a peer's credentials through NIO (the channel's descriptor is not public), on the
    /// channel's event loop.
    static func peer(of channel: any Channel) -> EventLoopFuture<Peer?> {
        guard let provider = channel as? any SocketOptionProvider else { return channel.eventLoop.makeSucceededFuture(nil) }
        let level = SocketOptionLevel(SOL_SOCKET)
        let credentials: EventLoopFuture<Credentials> = provider.unsafeGetSocketOption(level: level, name: SocketOptionName(SO_PEERCRED))
        return credentials.flatMap { credentials in
            // The kernel lists supplementary groups sorted by (kernel) id, and fails with ERANGE
            // when they do not fit; NIO hands over a zeroed buffer of fixed size, so the count is
            // not known: trailing zeros are padding. Group 0 (root's), when present, comes first;
            // a one-byte probe tells "no groups" (fits) from "some groups" (ERANGE).
            let listed: EventLoopFuture<GroupList> = provider.unsafeGetSocketOption(level: level, name: SocketOptionName(Self.peerGroups))
            let probe: EventLoopFuture<UInt8> = provider.unsafeGetSocketOption(level: level, name: SocketOptionName(Self.peerGroups))
            return listed.and(probe.map { _ in true }.recover { _ in false }).map { list, empty in
                var groups: [gid_t] = []
                for index in list.entries.indices {
                    let group = list.entries[index]
                    if group == 0, !(index == 0 && !empty) { continue }
                    groups.append(group)
                }
                return Peer?(Peer(pid: credentials.pid, uid: credentials.uid, gid: credentials.gid, groups: groups))
            }.recover { _ -> Peer? in
                Peer(pid: credentials.pid, uid: credentials.uid, gid: credentials.gid, groups: nil)
            }
        }.recover { _ -> Peer? in nil }
    }

    /// `struct ucred` (pid, uid, gid), which Glibc's module leaves out (it needs _GNU_SOURCE).
    struct Credentials: Sendable {
        var pid: pid_t = 0
        var uid: uid_t = 0
        var gid: gid_t = 0
    }

    /// Linux's SO_PEERGROUPS (4.13), not exported by Glibc's module.
    static let peerGroups: Int32 = 59

    /// Room for 256 supplementary groups; a peer with more is judged by its uid and gid alone.
    struct GroupList: Sendable {
        var entries = InlineArray<256, gid_t>(repeating: 0)
    }
}
