import Foundation
import Glibc

/// Host names resolved off the event loop. `getaddrinfo` blocks (seconds, when a DNS server is
/// slow or a container's name is gone), and the loop must keep ticking Raft meanwhile: a numeric
/// address is answered at once, a name from a cache, and otherwise a lookup runs on a helper
/// thread and its answer comes back to the loop. Answers are kept for `ttlNs` (failures for
/// `negativeTTLNs`), so a peer that moves to a new address is found again.
public final class HostResolver {
    enum Answer: Equatable {
        case address(in_addr)
        /// A lookup is running; `whenDone` will be called on the loop.
        case pending
        /// The name did not resolve (recently).
        case failed

        static func == (a: Answer, b: Answer) -> Bool {
            switch (a, b) {
            case (.address(let x), .address(let y)): x.s_addr == y.s_addr
            case (.pending, .pending), (.failed, .failed): true
            default: false
            }
        }
    }

    private let loop: EventLoop
    let ttlNs: UInt64
    let negativeTTLNs: UInt64
    private var cache: [String: (address: in_addr?, expiresNs: UInt64)] = [:]
    private var waiting: [String: [() -> Void]] = [:]
    /// How many callers may wait for one name's lookup at once (the names themselves are the
    /// members' addresses, fixed by configuration).
    static let maxWaitersPerHost = 1024

    init(loop: EventLoop, ttlNs: UInt64 = 5_000_000_000, negativeTTLNs: UInt64 = 1_000_000_000) {
        self.loop = loop
        self.ttlNs = ttlNs
        self.negativeTTLNs = negativeTTLNs
    }

    /// The address of `host` if it is known now; otherwise `.pending`, and `whenDone` runs on the
    /// loop once the lookup ends (call again then).
    func resolve(_ host: String, whenDone: @escaping () -> Void) -> Answer {
        var numeric = in_addr()
        if inet_pton(AF_INET, host, &numeric) == 1 { return .address(numeric) }
        if let entry = cache[host], entry.expiresNs > EventLoop.nowNs() {
            return entry.address.map(Answer.address) ?? .failed
        }
        let first = waiting[host] == nil
        // Callers wait for one lookup per name; past the bound they are told it failed (the
        // forwarder answers 503, the transport redials later) rather than queueing without end.
        guard (waiting[host]?.count ?? 0) < Self.maxWaitersPerHost else { return .failed }
        waiting[host, default: []].append(whenDone)
        if first {
            let box = ResolverBox(resolver: self, handle: loop.handle)
            let thread = Thread {
                let found = HostResolver.lookup(host)
                box.handle.execute { box.finish(host, found.map { $0.s_addr }) }
            }
            thread.start()
        }
        return .pending
    }

    fileprivate func finish(_ host: String, _ address: in_addr_t?) {
        cache[host] = (address.map { in_addr(s_addr: $0) }, EventLoop.nowNs() + (address == nil ? negativeTTLNs : ttlNs))
        let callbacks = waiting.removeValue(forKey: host) ?? []
        callbacks.forEach { $0() }
    }

    /// The first IPv4 address of `host` (blocking).
    public static func lookup(_ host: String) -> in_addr? {
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result, let found = first.pointee.ai_addr else { return nil }
        defer { freeaddrinfo(result) }
        return found.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
    }
}

/// Carries a lookup's answer from the helper thread back to its resolver on the loop thread. The
/// resolver is only touched there (through `LoopHandle.execute`).
private final class ResolverBox: @unchecked Sendable {
    let resolver: HostResolver
    let handle: LoopHandle

    init(resolver: HostResolver, handle: LoopHandle) {
        self.resolver = resolver
        self.handle = handle
    }

    func finish(_ host: String, _ address: in_addr_t?) { resolver.finish(host, address) }
}
