@testable import ControlPlane
import Testing

/// opsctl's reading of opsd's answers: when a response is complete, and what it carries.
@Suite("ControlClient reads HTTP responses")
struct ResponseParsingTests {
    private static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test("a response is complete once its head and Content-Length bytes of body have arrived")
    func completeByContentLength() {
        let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n"
        #expect(!ControlClient.isComplete(Self.bytes("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n")))
        #expect(!ControlClient.isComplete(Self.bytes(head + "{\"ok\":")))
        #expect(ControlClient.isComplete(Self.bytes(head + "{\"ok\":true}")))
        // Header names are case-insensitive, and whitespace after the colon is optional.
        #expect(ControlClient.isComplete(Self.bytes("HTTP/1.1 204 No Content\r\ncontent-length:0\r\n\r\n")))
    }

    @Test("without Content-Length a response is read to the end of the stream")
    func noLengthReadsToEnd() {
        #expect(!ControlClient.isComplete(Self.bytes("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbody")))
        let response = ControlClient.parse(Self.bytes("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nthe rest"))
        #expect(response?.status == 200)
        #expect(response?.body == Self.bytes("the rest"))
    }

    @Test("parse takes the status code and exactly Content-Length bytes of body")
    func parseStatusAndBody() throws {
        let response = try #require(ControlClient.parse(Self.bytes("HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}trailing")))
        #expect(response.status == 404)
        #expect(response.body == Self.bytes("{}"))
        // A Content-Length larger than what arrived keeps what arrived rather than inventing bytes.
        #expect(ControlClient.parse(Self.bytes("HTTP/1.0 500 Oops\r\nContent-Length: 99\r\n\r\nshort"))?.body == Self.bytes("short"))
    }

    @Test("what is not an HTTP response parses to nil", arguments: [
        "", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n",  // no end of head
        "SSH-2.0-OpenSSH_9.2\r\n\r\n", "HTTP/1.1 abc OK\r\n\r\n", "HTTP/2 200\r\n\r\n", "HTTP/1.1\r\n\r\n",
    ])
    func notHTTP(_ text: String) {
        #expect(ControlClient.parse(Self.bytes(text)) == nil)
    }

    @Test("query parameters are sorted and percent-encoded")
    func queryString() {
        #expect(ControlClient.queryString([:]) == "")
        #expect(ControlClient.queryString(["seconds": "3", "checks": "disk root,web"]) == "?checks=disk%20root,web&seconds=3")
        #expect(ControlClient.queryString(["q": "a&b=c"]).contains("a%26b%3Dc"))
    }
}
