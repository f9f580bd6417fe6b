import Master

/// An operator of the control-plane world as an API client, with one request in flight at a time, behaving as real clients do: 503, 429 and a timeout move it to the next
/// master and send the same request again (every request it makes is safe to repeat: lists,
/// merge patches, PUTs without a version, deletes); any other answer completes the request.
struct SimCaller {
    var target: Int
    /// Bumped on every send, so stale answers and timeouts are ignored.
    var attempt: UInt64 = 0
    var inFlight: CallerRequest?
    var queue: [CallerRequest] = []
    /// Requests queued at most: an operator that cannot reach a master stops queueing.
    static let maxQueued = 64
}

/// A request and what its answer is for.
struct CallerRequest {
    var request: HTTPRequest
    var purpose: Purpose

    enum Purpose: Equatable {
        case operation
    }

    static func json(_ method: String, _ target: String, _ body: JSON, contentType: String = "application/json") -> HTTPRequest {
        HTTPRequest(method: method, target: target, headers: [("Content-Type", contentType)], body: Array(body.text.utf8))
    }

    static func mergePatch(_ target: String, _ body: JSON) -> HTTPRequest {
        json("PATCH", target, body, contentType: "application/merge-patch+json")
    }
}

/// Who is calling: an operator.
enum CallerID: Equatable, CustomStringConvertible {
    case operatorClient(Int)

    var description: String {
        switch self {
        case .operatorClient(let o): "operator \(o)"
        }
    }
}

extension Simulation {
    func caller(_ id: CallerID) -> SimCaller {
        switch id {
        case .operatorClient(let o): operators[o].caller
        }
    }

    func updateCaller(_ id: CallerID, _ change: (inout SimCaller) -> Void) {
        switch id {
        case .operatorClient(let o): change(&operators[o].caller)
        }
    }

    /// Queues a request; sends it when nothing else is in flight.
    func call(_ id: CallerID, _ request: CallerRequest) {
        var queued = true
        updateCaller(id) { caller in
            if caller.queue.count >= SimCaller.maxQueued { queued = false } else { caller.queue.append(request) }
        }
        if queued { sendNextCall(id) }
    }

    func sendNextCall(_ id: CallerID) {
        var next: (CallerRequest, Int, UInt64)? = nil
        updateCaller(id) { caller in
            guard caller.inFlight == nil, !caller.queue.isEmpty else { return }
            caller.inFlight = caller.queue.removeFirst()
            caller.attempt += 1
            next = (caller.inFlight!, caller.target, caller.attempt)
        }
        guard let (request, target, attempt) = next else { return }
        transmit(id, request.request, target: target, attempt: attempt)
    }

    func transmit(_ id: CallerID, _ request: HTTPRequest, target: Int, attempt: UInt64) {
        if !networkRng.chance(lossRate) {
            schedule(after: networkDelay(), .request(node: target, .caller(id), attempt: attempt, request))
        }
        schedule(after: clientTimeoutNs, .callerTimeout(id, attempt: attempt))
    }

    /// No answer in time (or 503/429): the same request again, at the next master.
    func retryCall(_ id: CallerID, attempt: UInt64, afterNs delay: UInt64 = 0) {
        var again: (HTTPRequest, Int, UInt64)? = nil
        updateCaller(id) { caller in
            guard caller.attempt == attempt, let request = caller.inFlight else { return }
            caller.target = (caller.target + 1) % nodes.count
            caller.attempt += 1
            again = (request.request, caller.target, caller.attempt)
        }
        guard let (request, target, next) = again else { return }
        if delay == 0 { transmit(id, request, target: target, attempt: next) } else { schedule(after: delay, .callerResend(id, attempt: next)) }
    }

    func resendCall(_ id: CallerID, attempt: UInt64) {
        let caller = caller(id)
        guard caller.attempt == attempt, let request = caller.inFlight else { return }
        transmit(id, request.request, target: caller.target, attempt: attempt)
    }

    func callerReceived(_ id: CallerID, attempt: UInt64, _ response: HTTPResponse) {
        guard caller(id).attempt == attempt, let request = caller(id).inFlight else { return }
        if response.status == 503 || response.status == 429 || response.status == 504 && request.request.method == "GET" {
            return retryCall(id, attempt: attempt, afterNs: 10_000_000)
        }
        updateCaller(id) { $0.inFlight = nil }
        switch id {
        case .operatorClient(let o): operatorReceived(o, request, response)
        }
        sendNextCall(id)
    }

    /// Drops what a caller had queued or in flight (its process stopped).
    func resetCaller(_ id: CallerID) {
        updateCaller(id) { caller in
            caller.inFlight = nil
            caller.queue = []
            caller.attempt += 1
        }
    }
}
