import AsyncHTTPClient
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// The HTTP clients of the checks and webhooks, one per distinct setting (redirects, extra trust
/// roots), shared so that connections are pooled and there is one place that shuts them down.
public final class HTTPClients: Sendable {
    private struct Key: Hashable {
        var maxRedirects: Int
        var caFile: String?
    }

    private let clients = Mutex<[Key: HTTPClient]>([:])

    /// Creates an empty pool.
    public init() {}

    /// A pool dropped without `shutdown()` still closes its clients (HTTPClient traps otherwise);
    /// the shutdown keeps each client alive until it completes.
    deinit {
        for client in clients.withLock({ Array($0.values) }) { client.shutdown { _ in } }
    }

    /// The client for these settings, created on first use.
    func client(maxRedirects: Int, caFile: String?) throws -> HTTPClient {
        let key = Key(maxRedirects: maxRedirects, caFile: caFile)
        if let existing = clients.withLock({ $0[key] }) { return existing }
        var tls = TLSConfiguration.makeClientConfiguration()
        if let caFile {
            do {
                tls.additionalTrustRoots = [.certificates(try NIOSSLCertificate.fromPEMFile(caFile))]
            } catch {
                throw CheckFailure("cannot read the certificates in ca_file \(caFile): \(error)")
            }
        }
        var pool = HTTPClient.Configuration.ConnectionPool(idleTimeout: .seconds(30))
        // By default a failed connect or TLS handshake is retried until the deadline, which
        // turns "connection refused" into a timeout (UNKNOWN); the check wants the refusal (CRIT).
        pool.retryConnectionEstablishment = false
        let configuration = HTTPClient.Configuration(
            tlsConfiguration: tls,
            redirectConfiguration: maxRedirects == 0 ? .disallow : .follow(max: maxRedirects, allowCycles: false),
            connectionPool: pool
        )
        let created = HTTPClient(eventLoopGroupProvider: .shared(MultiThreadedEventLoopGroup.singleton), configuration: configuration)
        let (client, extra) = clients.withLock { table -> (HTTPClient, HTTPClient?) in
            if let raced = table[key] { return (raced, created) }
            table[key] = created
            return (created, nil)
        }
        if let extra { Task { try? await extra.shutdown() } }
        return client
    }

    /// Closes every client; call once when the checks are done (daemon stop, opsctl exit).
    public func shutdown() async {
        let all = clients.withLock { table -> [HTTPClient] in
            defer { table = [:] }
            return Array(table.values)
        }
        for client in all { try? await client.shutdown() }
    }
}
