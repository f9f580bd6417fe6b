import CSystem
import Glibc

/// Non-blocking TCP sockets over IPv4.
enum Socket {
    /// A numeric IPv4 address, or a host name resolved to its first IPv4 address (containers name
    /// their peers). Resolution blocks; it happens only when a connection is opened.
    static func address(_ host: String, _ port: UInt16) throws(IOFailure) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        if inet_pton(AF_INET, host, &addr.sin_addr) == 1 { return addr }
        guard let found = HostResolver.lookup(host) else { throw IOFailure(operation: "resolve", path: host, code: EHOSTUNREACH) }
        addr.sin_addr = found
        return addr
    }

    static func make() throws(IOFailure) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw IOFailure(operation: "socket", path: "", code: errno) }
        return fd
    }

    /// A listening socket; port 0 picks a free one (see `localPort`).
    static func listen(host: String, port: UInt16) throws(IOFailure) -> Int32 {
        var addr = try address(host, port)
        let fd = try make()
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, Glibc.listen(fd, 128) == 0 else {
            let code = errno
            close(fd)
            throw IOFailure(operation: "bind", path: "\(host):\(port)", code: code)
        }
        return fd
    }

    static func localPort(_ fd: Int32) -> UInt16 {
        var addr = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return UInt16(bigEndian: addr.sin_port)
    }

    /// Starts connecting; completion shows up as writability. Resolving a name blocks: on the
    /// event loop, resolve with `HostResolver` and use `connect(to:)`.
    static func connect(host: String, port: UInt16) throws(IOFailure) -> Int32 {
        try connect(to: try address(host, port))
    }

    /// Starts connecting to an IPv4 address and port.
    static func connect(to address: sockaddr_in) throws(IOFailure) -> Int32 {
        var addr = address
        let fd = try make()
        setNoDelay(fd)
        let result = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 || errno == EINPROGRESS else {
            let code = errno
            close(fd)
            throw IOFailure(operation: "connect", path: Socket.describe(address), code: code)
        }
        return fd
    }

    /// Starts connecting to a UNIX stream socket (a local daemon's, such as the Docker engine's).
    static func connect(unixPath path: String) throws(IOFailure) -> Int32 {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { throw IOFailure(operation: "connect", path: path, code: ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: bytes) }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw IOFailure(operation: "socket", path: path, code: errno) }
        let result = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 || errno == EINPROGRESS || errno == EAGAIN else {
            let code = errno
            close(fd)
            throw IOFailure(operation: "connect", path: path, code: code)
        }
        return fd
    }

    /// `a.b.c.d:port`.
    static func describe(_ address: sockaddr_in) -> String {
        var addr = address.sin_addr
        var text = [UInt8](repeating: 0, count: Int(INET_ADDRSTRLEN))
        text.withUnsafeMutableBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { _ = inet_ntop(AF_INET, &addr, $0.baseAddress, socklen_t($0.count)) }
        }
        return String(decoding: text.prefix { $0 != 0 }, as: UTF8.self) + ":\(UInt16(bigEndian: address.sin_port))"
    }

    /// An IPv4 socket address.
    static func socketAddress(_ ip: in_addr, _ port: UInt16) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr = ip
        return addr
    }

    /// The pending error of a connecting socket (0: connected).
    static func pendingError(_ fd: Int32) -> Int32 {
        var code: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &length)
        return code
    }

    static func accept(_ fd: Int32) -> Int32? {
        let client = csystem_accept4(fd)
        guard client >= 0 else { return nil }
        setNoDelay(client)
        return client
    }

    static func setNoDelay(_ fd: Int32) {
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Writes what the socket takes now; returns the count, or nil when the peer is gone.
    /// MSG_NOSIGNAL: a closed peer is an error here, never a SIGPIPE.
    static func send(_ fd: Int32, _ bytes: ArraySlice<UInt8>) -> Int? {
        let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if n >= 0 { return n }
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : nil
    }

    /// Reads what is available: bytes, an empty array at end of stream, nil on would-block.
    static func receive(_ fd: Int32, into buffer: inout [UInt8]) -> ArraySlice<UInt8>?? {
        let n = buffer.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, $0.count, 0) }
        if n > 0 { return .some(buffer[0..<n]) }
        if n == 0 { return .some(nil) }
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? nil : .some(nil)
    }
}
