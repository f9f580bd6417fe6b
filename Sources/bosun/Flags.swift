import Raft
import Runtime

/// Command-line flags in `--name value` form, each also readable from an environment variable
/// (`--data-dir` ← `BOSUN_DATA_DIR`), for containers. Unknown flags and missing values are usage
/// errors (exit status 2).
struct Flags {
    struct UsageError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    private var values: [String: String] = [:]

    init(_ arguments: [String], known: [String], environment: [String: String]) throws(UsageError) {
        for name in known {
            let variable = "BOSUN_" + name.uppercased().map { $0 == "-" ? "_" : $0 }.reduce("") { $0 + String($1) }
            if let value = environment[variable] { values[name] = value }
        }
        var rest = arguments[...]
        while let flag = rest.popFirst() {
            guard flag.hasPrefix("--") else { throw UsageError(message: "unexpected argument '\(flag)'") }
            var name = String(flag.dropFirst(2))
            var value: String?
            if let eq = name.firstIndex(of: "=") {
                value = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            }
            guard known.contains(name) else { throw UsageError(message: "unknown flag --\(name)") }
            guard let v = value ?? rest.popFirst() else { throw UsageError(message: "--\(name) needs a value") }
            values[name] = v
        }
    }

    func string(_ name: String) -> String? { values[name] }

    func required(_ name: String) throws(UsageError) -> String {
        guard let v = values[name], !v.isEmpty else { throw UsageError(message: "--\(name) is required") }
        return v
    }

    func int(_ name: String, default fallback: Int, allowed: ClosedRange<Int>) throws(UsageError) -> Int {
        guard let text = values[name] else { return fallback }
        guard let n = Int(text), allowed.contains(n) else {
            throw UsageError(message: "--\(name): '\(text)' must be a number in \(allowed.lowerBound)...\(allowed.upperBound)")
        }
        return n
    }

    static func address(_ text: String, flag: String) throws(UsageError) -> PeerTransport.Address {
        guard let address = PeerTransport.Address(parsing: text) else { throw UsageError(message: "--\(flag): '\(text)' is not HOST:PORT") }
        return address
    }

    /// `ID=HOST:PORT,ID=HOST:PORT,...`
    static func addressMap(_ text: String, flag: String) throws(UsageError) -> [(NodeID, PeerTransport.Address)] {
        var result: [(NodeID, PeerTransport.Address)] = []
        for item in text.split(separator: ",") {
            let kv = item.split(separator: "=", maxSplits: 1)
            guard kv.count == 2, let id = UInt64(kv[0]), id > 0 else {
                throw UsageError(message: "--\(flag): '\(item)' is not ID=HOST:PORT with a positive ID")
            }
            guard !result.contains(where: { $0.0.rawValue == id }) else { throw UsageError(message: "--\(flag): ID \(id) appears twice") }
            result.append((NodeID(id), try address(String(kv[1]), flag: flag)))
        }
        return result
    }
}
