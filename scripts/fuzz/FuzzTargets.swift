// libFuzzer entry point for every parser that takes input from outside (see docs/fuzzing.md).
// `scripts/fuzz.sh` compiles this file together with the sources of Raft, Store, Master and the
// HTTP parser into one binary; FUZZ_TARGET picks what each input is fed to. A target returns 0
// for any input: refusing bad input with an error is the expected outcome; a trap, a hang past
// the time limit or memory past the limit is a finding.
import Glibc

/// The target chosen for this process.
let fuzzTarget: String = getenv("FUZZ_TARGET").map { String(cString: $0) } ?? ""

/// A Pod the patch target patches (its schema gives the strategic merge keys).
let patchTarget: JSON = {
    let text = #"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default","labels":{"app":"web"},"resourceVersion":"7"},"spec":{"containers":[{"name":"c","image":"nginx","ports":[{"containerPort":80}]}]}}"#
    return try! JSONParser.parse(text)
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let text = String(decoding: bytes, as: UTF8.self)
    switch fuzzTarget {
    case "json":
        if let value = try? JSONParser.parse(bytes) { _ = try? JSONParser.parse(value.text) }
    case "yaml":
        if let documents = try? YAMLParser.parseDocuments(text) {
            for document in documents { _ = try? YAMLParser.parseDocuments(YAMLWriter.text(document)) }
        }
    case "http":
        // The first byte picks the chunk size, so the parser sees every fragmentation.
        var parser = HTTPParser()
        let chunk = max(1, Int(bytes.first ?? 1) % 64)
        var offset = 1
        while offset < bytes.count {
            parser.append(bytes[offset..<min(bytes.count, offset + chunk)])
            offset += chunk
            do { while try parser.next() != nil {} } catch { break }
        }
    case "raft-message":
        _ = try? Message(decoding: bytes)
    case "wal":
        if let log = try? WALRecord.readLog(bytes, isLast: true) {
            var state = PersistentState()
            for record in log.records { WALRecord.replay(record, into: &state) }
        }
    case "selectors":
        _ = try? LabelSelector(parsing: text)
        _ = try? FieldSelector(parsing: text, for: .pods)
    case "patch":
        // The first byte picks the patch format; the result is admitted as an update.
        guard let patch = try? JSONParser.parse(Array(bytes.dropFirst())) else { return 0 }
        let format: Patch.Format = [.merge, .json, .strategic][Int(bytes.first ?? 0) % 3]
        let path = ResourcePath(type: .pods, namespace: "default", name: "p", subresource: nil)
        if let patched = try? Patch.apply(format, patch, to: patchTarget, schema: ResourceType.pods.schema) {
            _ = try? Admission.update(path, patched, current: patchTarget, strict: true)
        }
    default:
        fatalError("FUZZ_TARGET must name a target: json yaml http raft-message wal selectors patch")
    }
    return 0
}
