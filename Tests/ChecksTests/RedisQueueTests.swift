import Foundation
import Testing
import TestSupport
@testable import Checks
import OpsConfig

@Suite("queue backlog in a real redis-server")
struct RedisQueueTests {
    @Test("LLEN over TCP and a unix socket, against warn/crit; a WRONGTYPE key and a dead server are UNKNOWN")
    func backlog() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let port = try freePort()
        let socket = scratch.file("redis.sock")
        let redis = try ServerProcess([
            "/usr/bin/redis-server", "--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--unixsocket", socket, "--unixsocketperm", "700", "--dir", scratch.path,
        ], outputPath: scratch.file("redis.log"))
        defer { redis.stop() }
        let tcp = "redis://127.0.0.1:\(port)/0"
        try await eventually("redis answers") {
            await runOnce(.queue(.redis(url: tcp, key: "celery"))).state == .ok ? true : nil
        }
        func push(_ count: Int, database: Int = 0) async throws {
            let items = (0..<count).map { "job-\($0)" }
            let outcome = try await environment.commands.run(["/usr/bin/redis-cli", "-p", "\(port)", "-n", "\(database)", "RPUSH", "celery"] + items)
            #expect(outcome.status.isSuccess, "\(outcome.output)")
        }

        let empty = await runOnce(.queue(.redis(url: tcp, key: "celery")), warn: "100", crit: "1000")
        #expect(empty.state == .ok && empty.value == 0)
        try await push(150)
        let warn = await runOnce(.queue(.redis(url: tcp, key: "celery")), warn: "100", crit: "1000")
        #expect(warn.state == .warn)
        #expect(warn.message == "150 items waiting in celery (warn 100)")
        try await push(900)
        let crit = await runOnce(.queue(.redis(url: "unix://\(socket)", key: "celery")), warn: "100", crit: "1000")
        #expect(crit.state == .crit && crit.value == 1050)

        // Another database of the same server is selected with /N.
        try await push(7, database: 3)
        #expect(await runOnce(.queue(.redis(url: "redis://127.0.0.1:\(port)/3", key: "celery"))).value == 7)

        _ = try await environment.commands.run(["/usr/bin/redis-cli", "-p", "\(port)", "SET", "plain", "x"])
        let wrongType = await runOnce(.queue(.redis(url: tcp, key: "plain")))
        #expect(wrongType.state == .unknown)
        #expect(wrongType.message.hasPrefix("Redis answered LLEN with: WRONGTYPE"))

        redis.stop()
        let down = await runOnce(.queue(.redis(url: tcp, key: "celery")))
        #expect(down.state == .unknown)
        #expect(down.message == "cannot connect to Redis at 127.0.0.1:\(port): Connection refused")
    }
}
