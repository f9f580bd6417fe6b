import Glibc

/// Why a file operation failed: the operation, the path and the errno text. EIO and ENOSPC on a
/// sync surface here; callers must stop rather than acknowledge anything not durable.
public struct IOFailure: Error, Equatable, CustomStringConvertible {
    public var operation: String
    public var path: String
    public var code: Int32

    public init(operation: String, path: String, code: Int32) {
        self.operation = operation
        self.path = path
        self.code = code
    }

    public var description: String { "\(operation) \(path): \(String(cString: strerror(code))) (errno \(code))" }
}

/// Thin, throwing wrappers over the POSIX calls the write-ahead log needs. Writes loop until every
/// byte is written; reads return the whole file.
public enum FileIO {
    static func fail(_ operation: String, _ path: String) -> IOFailure {
        IOFailure(operation: operation, path: path, code: errno)
    }

    static func open(_ path: String, _ flags: Int32, mode: mode_t = 0o644) throws(IOFailure) -> Int32 {
        let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
        guard fd >= 0 else { throw fail("open", path) }
        return fd
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(IOFailure) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, bytes.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw fail("write", path)
            }
            done += n
        }
    }

    /// The whole file (or device: `/dev/stdin` reads standard input to its end).
    public static func readAll(_ path: String) throws(IOFailure) -> [UInt8] {
        let fd = try open(path, O_RDONLY)
        defer { Glibc.close(fd) }
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw fail("read", path)
            }
            if n == 0 { return result }
            result += buffer[0..<n]
        }
    }

    /// The bytes of `path` from `offset` on (none when it cannot be read).
    static func read(_ path: String, from offset: Int) -> [UInt8] {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var at = offset
        while true {
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(at)) }
            guard n > 0 else { return result }
            result += buffer[0..<n]
            at += n
        }
    }

    static func dataSync(_ fd: Int32, path: String) throws(IOFailure) {
        guard fdatasync(fd) == 0 else { throw fail("fdatasync", path) }
    }

    /// Makes a rename or a new file in `directory` durable.
    static func syncDirectory(_ directory: String) throws(IOFailure) {
        let fd = try open(directory, O_RDONLY | O_DIRECTORY)
        defer { Glibc.close(fd) }
        guard fsync(fd) == 0 else { throw fail("fsync", directory) }
    }

    static func truncate(_ fd: Int32, to length: Int, path: String) throws(IOFailure) {
        guard ftruncate(fd, off_t(length)) == 0 else { throw fail("ftruncate", path) }
    }

    static func rename(_ from: String, _ to: String) throws(IOFailure) {
        guard Glibc.rename(from, to) == 0 else { throw fail("rename", to) }
    }

    static func remove(_ path: String) throws(IOFailure) {
        guard unlink(path) == 0 || errno == ENOENT else { throw fail("unlink", path) }
    }

    static func makeDirectory(_ path: String) throws(IOFailure) {
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else { throw fail("mkdir", path) }
    }

    /// Names in `directory`, sorted.
    /// Writes a small file whole: to a temporary beside it, synced, then renamed over it.
    public static func replace(_ path: String, with bytes: [UInt8]) throws(IOFailure) {
        let temporary = path + ".tmp"
        let fd = try open(temporary, O_WRONLY | O_CREAT | O_TRUNC)
        defer { close(fd) }
        try writeAll(fd, bytes, path: temporary)
        try dataSync(fd, path: temporary)
        try rename(temporary, path)
    }

    static func list(_ directory: String) throws(IOFailure) -> [String] {
        guard let dir = opendir(directory) else { throw fail("opendir", directory) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }
}
