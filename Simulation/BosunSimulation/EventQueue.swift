/// A priority queue of future events, ordered by (time, insertion sequence): events due at the
/// same instant run in the order they were scheduled, so ties never depend on anything but the seed.
///
/// The heap holds small fixed-size keys; payloads sit in a slab beside it, so sifting never copies
/// (or retains) an event.
struct EventQueue<Payload> {
    struct Key {
        var timeNs: UInt64
        var sequence: UInt64
        var slot: Int

        func precedes(_ other: Key) -> Bool {
            timeNs != other.timeNs ? timeNs < other.timeNs : sequence < other.sequence
        }
    }

    private var heap: [Key] = []
    private var slab: [Payload?] = []
    private var freeSlots: [Int] = []
    private var nextSequence: UInt64 = 0

    var count: Int { heap.count }
    var isEmpty: Bool { heap.isEmpty }

    mutating func schedule(at timeNs: UInt64, _ payload: Payload) {
        let slot: Int
        if let free = freeSlots.popLast() {
            slot = free
            slab[slot] = payload
        } else {
            slot = slab.count
            slab.append(payload)
        }
        heap.append(Key(timeNs: timeNs, sequence: nextSequence, slot: slot))
        nextSequence += 1
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].precedes(heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    /// Removes and returns the earliest event with its time.
    mutating func popFirst() -> (timeNs: UInt64, payload: Payload)? {
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
        let payload = slab[first.slot].take()!
        freeSlots.append(first.slot)
        return (first.timeNs, payload)
    }
}
