import Glibc
import Master

/// A watch over a real socket, for tests: sends `GET ...?watch=true`, then decodes the chunked
/// response into events, one JSON line each.
final class WatchStream {
    private let fd: Int32
    private var raw: [UInt8] = []
    private var body: [UInt8] = []
    private var headerDone = false
    private(set) var status: Int?
    private(set) var closed = false

    init?(port: UInt16, path: String) {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: test\r\n\r\n".utf8)
        guard connected == 0, request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else {
            close(fd)
            return nil
        }
    }

    deinit { close(fd) }

    /// The events that arrive within `timeoutMs` (fewer when the stream ends first).
    func events(timeoutMs: Int, until done: ([JSON]) -> Bool = { _ in false }) -> [JSON] {
        var events: [JSON] = []
        let deadline = EventClock.nowMs() + timeoutMs
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !closed, EventClock.nowMs() < deadline, !done(events) {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
                closed = true
            } else if n > 0 {
                raw += buffer[0..<n]
            }
            decode()
            while let newline = body.firstIndex(of: 10) {
                let line = Array(body[..<newline])
                body.removeFirst(newline + 1)
                if let event = try? JSONParser.parse(line) { events.append(event) }
            }
        }
        return events
    }

    /// Moves complete chunks from `raw` to `body`.
    private func decode() {
        if !headerDone {
            guard let end = HTTPTestClient.find([13, 10, 13, 10], in: raw) else { return }
            let head = String(decoding: raw[..<end], as: UTF8.self)
            status = head.split(separator: " ").dropFirst().first.flatMap { Int($0) }
            raw.removeFirst(end + 4)
            headerDone = true
        }
        let (bytes, ended) = HTTPTestClient.takeChunks(&raw)
        body += bytes
        if ended { closed = true }
    }
}
