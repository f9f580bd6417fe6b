/// A priority queue of future events, ordered by (time, insertion sequence): events due at the
/// same instant run in the order they were scheduled, so ties never depend on anything but the seed.
struct EventQueue<Payload> {
    struct Item {
        var timeNs: UInt64
        var sequence: UInt64
        var payload: Payload

        func precedes(_ other: Item) -> Bool {
            timeNs != other.timeNs ? timeNs < other.timeNs : sequence < other.sequence
        }
    }

    private var heap: [Item] = []
    private var nextSequence: UInt64 = 0

    var count: Int { heap.count }
    var isEmpty: Bool { heap.isEmpty }

    mutating func schedule(at timeNs: UInt64, _ payload: Payload) {
        heap.append(Item(timeNs: timeNs, sequence: nextSequence, payload: payload))
        nextSequence += 1
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].precedes(heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func popFirst() -> Item? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let first = heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count && heap[left].precedes(heap[smallest]) { smallest = left }
            if right < heap.count && heap[right].precedes(heap[smallest]) { smallest = right }
            if smallest == parent { break }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
        return first
    }
}
