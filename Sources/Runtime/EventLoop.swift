import CSystem
import Glibc
import Synchronization

/// One epoll loop per process: it owns file descriptors and timers and runs every callback on its
/// own thread, one at a time, so the deterministic core it drives is never entered concurrently.
/// Not thread-safe: create, use and run it on one thread.
public final class EventLoop {
    public typealias IOHandler = (_ readable: Bool, _ writable: Bool, _ hangup: Bool) -> Void

    struct Timer {
        var deadlineNs: UInt64
        var sequence: UInt64
        var id: UInt64
    }

    private let epfd: Int32
    /// Work posted from other threads, run on the loop.
    public let handle: LoopHandle
    private var handlers: [Int32: IOHandler] = [:]
    private var timers: [Timer] = []
    private var timerBodies: [UInt64: () -> Void] = [:]
    private var nextTimerID: UInt64 = 1
    private var running = false
    /// How long each callback held the loop (nothing else runs meanwhile: no tick, no other
    /// request), and the longest hold: what `/metrics` shows as `bosun_loop_hold_seconds`.
    public private(set) var holds = Histogram(bounds: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1])
    public private(set) var longestHoldNs: UInt64 = 0

    public init() throws(IOFailure) {
        let fd = csystem_epoll_create()
        guard fd >= 0 else { throw IOFailure(operation: "epoll_create1", path: "", code: errno) }
        epfd = fd
        let wake = csystem_eventfd()
        guard wake >= 0 else { throw IOFailure(operation: "eventfd", path: "", code: errno) }
        handle = LoopHandle(wakeFD: wake)
        try register(wake) { [unowned self] _, _, _ in
            var counter: UInt64 = 0
            _ = read(wake, &counter, 8)
            for job in self.handle.takeAll() { job() }
        }
    }

    deinit {
        close(handle.wakeFD)
        close(epfd)
    }

    /// The monotonic clock in nanoseconds.
    public static func nowNs() -> UInt64 { monotonicNs() }

    /// Watches `fd` for readability (always) and writability (when `writable`).
    public func register(_ fd: Int32, writable: Bool = false, _ handler: @escaping IOHandler) throws(IOFailure) {
        handlers[fd] = handler
        guard csystem_epoll_ctl(epfd, csystem_EPOLL_CTL_ADD, fd, mask(writable), UInt64(fd)) == 0 else {
            handlers[fd] = nil
            throw IOFailure(operation: "epoll_ctl", path: "fd \(fd)", code: errno)
        }
    }

    /// Changes whether `fd` is watched for writability.
    public func watch(_ fd: Int32, writable: Bool) {
        _ = csystem_epoll_ctl(epfd, csystem_EPOLL_CTL_MOD, fd, mask(writable), UInt64(fd))
    }

    /// Stops watching `fd` (the caller closes it).
    public func unregister(_ fd: Int32) {
        handlers[fd] = nil
        _ = csystem_epoll_ctl(epfd, csystem_EPOLL_CTL_DEL, fd, 0, 0)
    }

    private func mask(_ writable: Bool) -> UInt32 {
        csystem_EPOLLIN | csystem_EPOLLRDHUP | (writable ? csystem_EPOLLOUT : 0)
    }

    /// Runs `body` once, `delayNs` from now. Returns an id for `cancel`.
    @discardableResult
    public func schedule(afterNs delayNs: UInt64, _ body: @escaping () -> Void) -> UInt64 {
        let id = nextTimerID
        nextTimerID += 1
        timerBodies[id] = body
        timers.append(Timer(deadlineNs: EventLoop.nowNs() + delayNs, sequence: id, id: id))
        timers.sort { ($0.deadlineNs, $0.sequence) < ($1.deadlineNs, $1.sequence) }
        return id
    }

    public func cancel(_ id: UInt64) {
        timerBodies[id] = nil
        timers.removeAll { $0.id == id }
    }

    /// Runs until `stop()` is called from a callback.
    public func run() {
        running = true
        var events = [UInt32](repeating: 0, count: 64)
        var tokens = [UInt64](repeating: 0, count: 64)
        while running {
            let timeoutMs: Int32
            if let first = timers.first {
                let now = EventLoop.nowNs()
                timeoutMs = first.deadlineNs <= now ? 0 : Int32(min((first.deadlineNs - now + 999_999) / 1_000_000, 1000))
            } else {
                timeoutMs = 1000
            }
            let n = csystem_epoll_wait(epfd, &events, &tokens, 64, timeoutMs)
            if n < 0 && errno != EINTR { fatalError("epoll_wait: \(String(cString: strerror(errno)))") }
            for k in 0..<max(0, Int(n)) {
                let fd = Int32(truncatingIfNeeded: tokens[k])
                guard let handler = handlers[fd] else { continue }
                let e = events[k]
                let start = EventLoop.nowNs()
                handler(e & csystem_EPOLLIN != 0, e & csystem_EPOLLOUT != 0, e & (csystem_EPOLLHUP | csystem_EPOLLERR | csystem_EPOLLRDHUP) != 0)
                recordHold(since: start)
            }
            let now = EventLoop.nowNs()
            while running, let first = timers.first, first.deadlineNs <= now {
                timers.removeFirst()
                let start = EventLoop.nowNs()
                if let body = timerBodies.removeValue(forKey: first.id) { body() }
                recordHold(since: start)
            }
        }
    }

    public func stop() {
        running = false
    }

    private func recordHold(since start: UInt64) {
        let heldNs = EventLoop.nowNs() - start
        longestHoldNs = max(longestHoldNs, heldNs)
        holds.observe(seconds: Double(heldNs) / 1e9)
    }
}

/// The one way into an event loop from another thread: post a closure; the loop runs it.
public final class LoopHandle: Sendable {
    let wakeFD: Int32
    private let inbox = Mutex<[@Sendable () -> Void]>([])

    init(wakeFD: Int32) {
        self.wakeFD = wakeFD
    }

    /// Runs `job` on the loop's thread, soon.
    public func execute(_ job: @escaping @Sendable () -> Void) {
        inbox.withLock { $0.append(job) }
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    func takeAll() -> [@Sendable () -> Void] {
        inbox.withLock { jobs in
            defer { jobs = [] }
            return jobs
        }
    }
}
