import Master

/// A list being answered in steps.
struct ListStream {
    var scan: ListScan
    var document: ListDocument
    /// Whether the answer went out as a stream (the list took more than one step).
    var streaming = false
}

/// Work done in steps so that no request holds the loop for long, whatever it asks for: lists,
/// and the start of a watch (its current objects, or the history it resumes from). Each turn of
/// the driver's loop (`process()`) moves every such stream on by its share of
/// `Options.stepObjects`; the driver calls again while `hasPendingWork`. A list that fits in one
/// step is answered whole; a longer one is streamed (chunked), its items written as they are read
/// from the copy of the store the list started from.
extension MasterCore {
    func startList(_ id: RequestID, _ scan: ListScan, _ document: ListDocument) {
        lists[id] = ListStream(scan: scan, document: document)
        stepList(id, maxObjects: options.stepObjects, maxBytes: options.stepBytes)
    }

    func stepList(_ id: RequestID, maxObjects: Int, maxBytes: Int) {
        guard var list = lists.removeValue(forKey: id) else { return }
        var text = list.streaming ? "" : list.document.opening()
        for object in list.scan.next(maxKeys: maxObjects, maxBytes: maxBytes) { list.document.append(object, to: &text) }
        if list.scan.isDone {
            text += list.document.closing(resourceVersion: list.scan.resourceVersion, continueToken: list.scan.continueToken)
            guard list.streaming else { return respond(id, .json(200, text)) }
            outbox.append(.streamChunk(id, Array(text.utf8)))
            outbox.append(.endStream(id))
            return
        }
        if !list.streaming {
            outbox.append(.startStream(id, HTTPResponse(status: 200, headers: [("Content-Type", "application/json")])))
            list.streaming = true
        }
        outbox.append(.streamChunk(id, Array(text.utf8)))
        lists[id] = list
    }

    /// One step of every unfinished list and watch start, sharing one step's budget.
    func advanceStreams() {
        let streams = lists.count + catchingUp.count
        guard streams > 0 else { return }
        let maxObjects = max(1, options.stepObjects / streams)
        let maxBytes = max(1, options.stepBytes / streams)
        for id in lists.keys.sorted() { stepList(id, maxObjects: maxObjects, maxBytes: maxBytes) }
        for id in catchingUp.sorted() { stepCatchUp(id, maxObjects: maxObjects, maxBytes: maxBytes) }
    }
}
