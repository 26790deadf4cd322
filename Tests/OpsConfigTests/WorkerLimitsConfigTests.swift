import Testing
@testable import OpsConfig

/// Issue 16 items 1 and 2: `limits:` of a worker, read typed, with every mistake at its key and line.
@Suite("worker limits: config")
struct WorkerLimitsConfigTests {
    @Test("limits: reads rlimits (N, SOFT:HARD, infinity, sizes) and cgroup limits (sizes, a CPU percentage, tasks)")
    func readsEveryKey() throws {
        let loaded = ConfigLoader.parse(yaml: """
            workers:
              - name: app
                command: [/bin/true]
                limits: {nofile: 65536, core: 0, nproc: "256:512", memlock: 64M, memory: 2G, memory_high: 1536MiB, cpu: 50%, tasks: 512}
              - name: other
                command: [/bin/true]
                limits: {core: infinity, nofile: "1024:infinity", cpu: 200%}
            """, baseDirectory: "/etc/ops")
        #expect(loaded.diagnostics.isEmpty, "\(loaded.diagnostics)")
        let limits = try #require(loaded.configuration.workers.first?.limits)
        #expect(limits.nofile == ResourceLimit(soft: 65536, hard: 65536))
        #expect(limits.core == ResourceLimit(soft: 0, hard: 0))
        #expect(limits.nproc == ResourceLimit(soft: 256, hard: 512))
        #expect(limits.memlock == ResourceLimit(soft: 64 << 20, hard: 64 << 20))
        #expect(limits.memory == 2 << 30)
        #expect(limits.memoryHigh == 1536 << 20)
        #expect(limits.cpuPercent == 50)
        #expect(limits.tasks == 512)
        #expect(limits.cgroupKeys == ["memory", "memory_high", "cpu", "tasks"])
        let other = try #require(loaded.configuration.workers.last?.limits)
        #expect(other.core == ResourceLimit(soft: nil, hard: nil))
        #expect(other.nofile == ResourceLimit(soft: 1024, hard: nil))
        #expect(other.cpuPercent == 200)
        #expect(other.cgroupKeys == ["cpu"])
        #expect(ConfigLoader.parse(yaml: "workers: [{name: a, command: [/bin/true]}]", baseDirectory: "/").configuration.workers[0].limits == WorkerLimits())
    }

    @Test("a wrong limit is a problem at its key path and line that says what to write; an unknown key lists the valid ones")
    func mistakes() {
        let yaml = """
            workers:
              - name: app
                command: [/bin/true]
                limits:
                  nofile: lots
                  core: 1X
                  nproc: "512:256"
                  memory: 2 GB
                  memory_high: 3G
                  cpu: "50"
                  tasks: 0
                  mem: 1G
            """
        #expect(problems(yaml) == [
            #"workers[0].limits.nofile: "lots" is not a limit; write one value for soft and hard, or SOFT:HARD, e.g. 65536, 1024:65536 or infinity (line 5)"#,
            #"workers[0].limits.core: "1X" is not a limit; write one value for soft and hard, or SOFT:HARD, e.g. 0, 64M, 16M:64M or infinity (line 6)"#,
            #"workers[0].limits.nproc: "512:256" has a soft limit above its hard limit; the soft one must be at most the hard one (line 7)"#,
            #"workers[0].limits.memory: "2 GB" is not a size; write e.g. 512M, 2G or 1536MiB (K, M, G, T are powers of 1024) (line 8)"#,
            #"workers[0].limits.cpu: "50" is not a CPU share; write a percentage of one CPU, e.g. 50% (200% is two CPUs) (line 10)"#,
            #"workers[0].limits.tasks: "0" is not a whole number from 1 to 4194304 (line 11)"#,
            #"workers[0].limits.mem: unknown key; expected one of: nofile, core, nproc, memlock, memory, memory_high, cpu, tasks (line 12)"#,
        ])
        #expect(problems("workers:\n  - name: a\n    command: [/bin/true]\n    limits: {memory: 1G, memory_high: 2G}\n") == [
            "workers[0].limits.memory_high: 2G is not below memory (1G), so it would never throttle before the OOM kill; lower it or leave it out (line 4)",
        ])
        #expect(problems("workers:\n  - name: a\n    command: [/bin/true]\n    limit: {nofile: 10}\n").first?.contains("did you mean \"limits\"?") == true)
    }

    @Test("sizes: plain bytes, K/M/G/T as powers of 1024 with or without iB or B; nothing else")
    func sizes() {
        #expect(ByteSize.parse("4096") == 4096)
        #expect(ByteSize.parse("64K") == 64 << 10)
        #expect(ByteSize.parse("1536MiB") == 1536 << 20)
        #expect(ByteSize.parse("2G") == 2 << 30)
        #expect(ByteSize.parse("2GB") == 2 << 30)
        #expect(ByteSize.parse("1t") == 1 << 40)
        for bad in ["", "G", "iB", "5iB", "-1G", "1.5G", "2 X", "99999999999999999999", "16777216T"] {
            #expect(ByteSize.parse(bad) == nil, "\(bad)")
        }
        #expect(ByteSize.format(2 << 30) == "2G")
        #expect(ByteSize.format(1536 << 20) == "1536M")
        #expect(ByteSize.format(1000) == "1000")
    }
}
