// swift-tools-version:6.2
//
// opsd / opsctl: a supervisor daemon and its CLI for small SQLite-backed applications.
//
// Modules, in the order data flows through them:
//   Scheduling    the schedule language: durations, cron expressions, intervals, time zones → fire times
//   OpsConfig     YAML → typed, validated configuration (every problem at once, with key path and line)
//   OpsLogging    swift-log handlers for stderr (JSON lines, human), redaction, terminal progress lines
//   OpsJournal    the journald handler (native protocol) and the choice of output: opsd only
//   DaemonRuntime Swift concurrency on NIO's event loops, so an idle opsd never wakes (no libdispatch)
//   Systemd       sd_notify: readiness, status, reload, stopping, and the progress-gated watchdog
//   OpsAPI        the control API's vocabulary: every type on the wire and in `--json`, one JSON convention
//   Events        opsd's one event stream: what happened, to what, how bad; the domains emit, alerts,
//                 the journal and the history consume
//   ControlPlane  HTTP/1.1 + JSON over the unix control socket: server for opsd, client for opsctl
//   StateStore    opsd's SQLite state database (job runs, check history, backups) and the SQLite wrapper
//   Jobs          the scheduler (no overlap, coalescing, catch-up, retries) and its jobs
//   Checks        health checks (disk, memory, sqlite, queue, http, command)
//   Backup        SQLite snapshots committed to git with libgit2
//   OpsDaemon     opsd's services, wired together by the thin `opsd` composition root
import Foundation
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

/// `POST /v1/debug/stall` (blocks opsd's state actor, so the watchdog tests can prove a stuck
/// daemon stops the pings) exists in debug builds only, the ones the tests run: a release build
/// has neither the route nor a look at `OPSD_TEST_HOOKS`.
let debugTestHooks: [SwiftSetting] = [.define("OPSD_TEST_HOOKS", .when(configuration: .debug))]

/// How the executables are linked. Measured on opsd (release, 10 workers, docs/performance-notes.md):
/// relative relocations packed as RELR instead of 116,000 RELA entries (2.8 MB read at every start)
/// and no exported dynamic symbols (31,000 of them, searched by every shared library's lookups)
/// take its PSS from 31.5 to 26.8 MiB and shorten every start. Needs lld (in the toolchain) and
/// glibc 2.36 (Debian 12).
let lean: [LinkerSetting] = [
    .unsafeFlags(["-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs", "-Xlinker", "--no-export-dynamic", "-Xlinker", "--as-needed"], .when(platforms: [.linux])),
]

/// The functions a program runs, placed side by side in its release build (scripts/link-order.py
/// writes the list; scripts/release.sh compiles each function into a section of its own so the
/// linker can move it). The kernel maps code in 64 KiB blocks around each page touched, so
/// scattered functions kept most of opsd's code resident: measured 16.9 -> 13.4 MiB PSS.
func linkOrder(_ target: String) -> LinkerSetting {
    let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path + "/Sources/\(target)/link-order.txt"
    return .unsafeFlags(
        ["-Xlinker", "--symbol-ordering-file=\(file)", "-Xlinker", "--no-warn-symbol-ordering"],
        .when(platforms: [.linux], configuration: .release)
    )
}

let package = Package(
    name: "opsd",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "opsd", targets: ["opsd"]),
        .executable(name: "opsctl", targets: ["opsctl"]),
        .executable(name: "opsctl-backup", targets: ["opsctl-backup"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        // TLS for http checks and webhooks (HTTP/1.1 itself comes from swift-nio's NIOHTTP1).
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    ],
    targets: [
        // System libraries, found through pkg-config (Debian: libsystemd-dev, libgit2-dev, libsqlite3-dev).
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),
        .systemLibrary(name: "CGit2", pkgConfig: "libgit2", providers: [.apt(["libgit2-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        // zstd's --patch-from frames: a backup's byte-level delta when content moved across pages (VACUUM).
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        // Intel's ISA-L deflate: a full snapshot's chunks deflated and inflated in zlib's format, 5× zlib's speed.
        .systemLibrary(name: "CIsal", pkgConfig: "libisal", providers: [.apt(["libisal-dev"])]),
        // libyaml, the C parser behind PyYAML (and Yams, whose Swift layer imports full Foundation).
        .systemLibrary(name: "CYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        // fork/exec with setsid and a parent-death signal: the child side must be async-signal-safe C.
        .target(name: "CSpawn"),
        // The commit a binary was built from: room in the binary that scripts/stamp-commit.sh fills
        // after linking, so a new commit relinks nothing. BuildInfo reports it with `--version`.
        .target(name: "CBuildInfo"),
        .target(name: "BuildInfo", dependencies: ["CBuildInfo", "OpsConfig", "ProcessControl"], swiftSettings: strict),

        // The schedule language: durations, cron expressions, intervals and time zones → fire times.
        .target(name: "Scheduling", swiftSettings: strict),
        // Directories only root and opsd's user can change, and files opened without following
        // links: what keeps another user from redirecting opsd's socket, lock, state and backups.
        .target(name: "FileSafety", swiftSettings: strict),
        // Swift concurrency on NIO's event loops, sleeps on their timers, signals by sigwait:
        // what keeps libdispatch, and its once-a-second wakeup, out of the daemon.
        // DaemonRuntime's C side: Swift concurrency's global-executor hook (see its comment for why
        // not dlsym) and thread names (pthread_setname_np is not in Swift's Glibc module).
        .target(name: "CDaemonRuntime"),
        .target(
            name: "DaemonRuntime",
            dependencies: [
                "CDaemonRuntime",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "OpsConfig",
            dependencies: ["Scheduling", "CYAML", "Events", "FileSafety"],
            swiftSettings: strict
        ),
        .target(
            name: "OpsLogging",
            dependencies: [.product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        // journald links libsystemd, which opsctl and its companion must not load: a module apart.
        .target(
            name: "OpsJournal",
            dependencies: ["CSystemd", "OpsLogging", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .target(
            name: "Systemd",
            dependencies: [
                "CSystemd", "DaemonRuntime",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // The control API's vocabulary: every type opsd and opsctl exchange or print as JSON, and the
        // one JSON convention (docs/cli-json.md). Depends on no module of ours, so any side can speak it.
        .target(name: "OpsAPI", swiftSettings: strict),
        .target(name: "Events", swiftSettings: strict),
        // The events' history in the state database (bounded) and the wake-up of readers waiting for a new one.
        .target(name: "EventLog", dependencies: ["Events", "StateStore", "DaemonRuntime"], swiftSettings: strict),
        .target(
            name: "ControlPlane",
            dependencies: [
                "DaemonRuntime", "FileSafety", "OpsAPI",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // The HTTP/1.1 client of http checks and alert webhooks (NIO, TLS with NIOSSL, no pool).
        .target(
            name: "HTTPClient",
            dependencies: [
                "OpsConfig", "DaemonRuntime",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strict
        ),
        // The alert routes: events to webhooks (JSON, Slack, Discord) and exec hooks, by kind,
        // severity and subject, with resolved messages, repeats, retries and bounded queues.
        .target(
            name: "Alerts",
            dependencies: [
                "Events", "OpsConfig", "Scheduling", "HTTPClient", "ProcessControl", "DaemonRuntime",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "ProcessControl",
            dependencies: ["CSpawn", "DaemonRuntime"],
            swiftSettings: strict
        ),
        .target(
            name: "Supervisor",
            dependencies: [
                "OpsConfig", "Scheduling", "ProcessControl", "CSpawn", "CSystemd", "Systemd", "DaemonRuntime", "Events",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // opsd's state database (job runs, check history, backups) and a small SQLite wrapper.
        .target(name: "StateStore", dependencies: ["CSQLite", "FileSafety", "DaemonRuntime"], swiftSettings: strict),
        // The scheduler and its job kinds: command, SQLite maintenance, history pruning.
        .target(
            name: "Jobs",
            dependencies: [
                "OpsConfig", "Scheduling", "StateStore", "BackupRecords", "ProcessControl", "CSpawn", "DaemonRuntime", "Events",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "Checks",
            dependencies: [
                "OpsConfig", "Scheduling", "StateStore", "BackupRecords", "ProcessControl", "HTTPClient", "CSQLite", "DaemonRuntime",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The backup history in the state database and the freshness rules: readable without libgit2.
        .target(name: "BackupRecords", dependencies: ["StateStore", "Scheduling"], swiftSettings: strict),
        .target(
            name: "Backup",
            dependencies: ["OpsConfig", "Scheduling", "StateStore", "BackupRecords", "FileSafety", "ProcessControl", "CGit2", "CSQLite", "CCrypto", "CZstd", "CIsal", "OpsLogging", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        // Jobs' and checks' snapshots → OpsAPI values: shared by opsd and by opsctl's answers while
        // opsd is down (opsd maps its own and the supervisor's in OpsDaemon/WireMapping.swift).
        .target(name: "WireMapping", dependencies: ["OpsAPI", "Jobs", "Checks", "OpsConfig", "Scheduling", "Events", "EventLog"], swiftSettings: strict),
        .target(
            name: "OpsDaemon",
            dependencies: [
                "OpsConfig", "Scheduling", "Systemd", "ControlPlane", "Supervisor", "ProcessControl", "Jobs", "Checks", "StateStore",
                "BackupRecords", "OpsAPI", "WireMapping", "Events", "EventLog", "Alerts", "OpsLogging", "DaemonRuntime",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict + debugTestHooks
        ),
        .executableTarget(
            name: "opsd",
            dependencies: [
                "OpsDaemon", "OpsConfig", "OpsJournal", "Systemd", "ControlPlane", "Supervisor", "ProcessControl", "Jobs", "Checks", "StateStore",
                "DaemonRuntime", "Events", "BuildInfo",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            exclude: ["link-order.txt"],
            swiftSettings: strict + debugTestHooks,
            linkerSettings: lean + [linkOrder("opsd")]
        ),
        .executableTarget(
            name: "opsctl",
            dependencies: [
                "OpsConfig", "Scheduling", "ControlPlane", "Jobs", "Checks", "ProcessControl", "OpsAPI", "WireMapping", "EventLog", "StateStore", "FileSafety", "OpsLogging", "BuildInfo",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            exclude: ["link-order.txt"],
            swiftSettings: strict,
            linkerSettings: lean + [linkOrder("opsctl")]
        ),
        // The companion's commands, a library so the test kit's companion runs the same ones.
        .target(
            name: "BackupCLI",
            dependencies: [
                "OpsConfig", "Backup", "ControlPlane", "OpsAPI", "Events", "EventLog", "StateStore", "OpsLogging", "BuildInfo",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // `opsctl backup` and `opsctl restore` run here: opsctl execs it, so that no other opsctl
        // command loads libgit2 and its libraries (measured: 4.8 ms on every opsctl run).
        .executableTarget(name: "opsctl-backup", dependencies: ["BackupCLI"], swiftSettings: strict, linkerSettings: lean),

        .testTarget(name: "OpsConfigTests", dependencies: ["OpsConfig", "Scheduling"], swiftSettings: strict),
        .testTarget(
            name: "ChecksTests", dependencies: ["Checks", "OpsConfig", "StateStore", "BackupRecords", "ProcessControl", "TestSupport", "CSpawn", .product(name: "Logging", package: "swift-log")],
            exclude: ["Fixtures"], swiftSettings: strict
        ),
        .testTarget(name: "StateStoreTests", dependencies: ["StateStore"], swiftSettings: strict),
        .testTarget(name: "FileSafetyTests", dependencies: ["FileSafety"], swiftSettings: strict),
        .testTarget(name: "SchedulingTests", dependencies: ["Scheduling"], swiftSettings: strict),
        .testTarget(name: "DaemonRuntimeTests", dependencies: ["DaemonRuntime"], swiftSettings: strict),
        .testTarget(
            name: "JobsTests",
            dependencies: ["Jobs", "Events", "OpsConfig", "Scheduling", "StateStore", "BackupRecords", "ProcessControl", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        // Workers spawned with DirectSpawner only (never ChildProcesses, whose reaper would take other tests' children).
        .testTarget(
            name: "SupervisorTests",
            dependencies: [
                "Supervisor", "OpsConfig", "Events", "ProcessControl", "Systemd",
                .product(name: "Logging", package: "swift-log"), .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "OpsLoggingTests", dependencies: ["OpsLogging", "OpsJournal", .product(name: "Logging", package: "swift-log")], swiftSettings: strict),
        // Shared by the test targets that drive the built executables: paths and a command runner.
        .target(name: "TestSupport", dependencies: ["CSpawn", .product(name: "Logging", package: "swift-log")], path: "Tests/TestSupport", swiftSettings: strict),
        // The C side of the tests: system calls Swift cannot make (pidfd_open), kept out of the programs.
        .target(name: "CTestSupport", path: "Tests/CTestSupport"),
        // opsctl-backup with a pause at a backup step (OPSD_BACKUP_PAUSE_AT), so a test can kill it
        // there: built with the tests, never installed, and the programs read no such variable.
        .executableTarget(name: "opsctl-backup-testkit", dependencies: ["Backup", "BackupCLI"], path: "Tests/opsctl-backup-testkit", swiftSettings: strict),
        .testTarget(name: "IntegrationTests", dependencies: ["ControlPlane", "OpsAPI", "OpsConfig", "Jobs", "TestSupport", "CTestSupport"], swiftSettings: strict),
        .testTarget(
            name: "BackupTests",
            dependencies: ["Backup", "BackupRecords", "OpsAPI", "OpsConfig", "StateStore", "TestSupport", "CSpawn", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .testTarget(name: "SystemdTests", dependencies: ["ControlPlane", "OpsAPI", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "OpsAPITests", dependencies: ["OpsAPI"], swiftSettings: strict),
        .testTarget(name: "EventsTests", dependencies: ["Events"], swiftSettings: strict),
        // Alert routes against real HTTP receivers on 127.0.0.1 and real hooks (DirectSpawner).
        .testTarget(
            name: "AlertsTests",
            dependencies: ["Alerts", "Events", "OpsConfig", "ProcessControl", "TestSupport", .product(name: "Logging", package: "swift-log")],
            exclude: ["Fixtures"], swiftSettings: strict
        ),
        .testTarget(name: "EventLogTests", dependencies: ["EventLog", "Events", "StateStore"], swiftSettings: strict),
        // Spawning with DirectSpawner only (never ChildProcesses, whose reaper would take other tests' children).
        .testTarget(name: "ProcessControlTests", dependencies: ["ProcessControl", "TestSupport"], swiftSettings: strict),
        // opsd's services in process: the reload, and the routes against fakes of the supervisor and the scheduler.
        .testTarget(
            name: "OpsDaemonTests",
            dependencies: [
                "OpsDaemon", "ControlPlane", "Jobs", "OpsAPI", "OpsConfig", "Scheduling", "Supervisor", "Systemd", "TestSupport",
                "Checks", "BackupRecords", "DaemonRuntime",
                "Events", "EventLog", "StateStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // The transport alone, in process: the client's parsing and a real server on a socket in a temporary directory.
        .testTarget(
            name: "ControlPlaneTests",
            dependencies: [
                "ControlPlane", "DaemonRuntime", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
    ]
)
