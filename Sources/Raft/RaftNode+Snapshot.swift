/// InstallSnapshot (Raft §7), sent in chunks so that a large snapshot never needs one huge message.
extension RaftNode {
    /// This leader heard from a follower within the last election timeout whose log does not
    /// reach `index`. Compacting through `index` would leave it only a snapshot to catch up
    /// from — or, if it is taking one in, make the leader's newer and restart the transfer — so
    /// the host holds compaction back for a while (`RaftHost.followerHoldIntervals`).
    public func hasLiveFollower(behind index: LogIndex) -> Bool {
        role == .leader && progress.contains { $0.key != id && $0.value.match < index && $0.value.idleTicks < config.electionTicks }
    }

    /// Switches `peer` to snapshot state and sends the first chunk. False when there is no snapshot.
    mutating func sendSnapshot(to peer: NodeID) -> Bool {
        guard let snap = snapshot, var pr = progress[peer] else { return false }
        pr.becomeSnapshot(index: snap.metadata.index)
        progress[peer] = pr
        resendSnapshotChunk(to: peer)
        return true
    }

    /// Sends the chunk at the follower's current offset. Heartbeat answers call this too, which
    /// retransmits a lost chunk.
    mutating func resendSnapshotChunk(to peer: NodeID) {
        guard let snap = snapshot, var pr = progress[peer], pr.state == .snapshot else { return }
        if pr.snapshotIndex != snap.metadata.index {
            // The leader compacted again meanwhile: send the newer snapshot from the start.
            pr.becomeSnapshot(index: snap.metadata.index)
            progress[peer] = pr
        }
        let start = min(pr.snapshotOffset, snap.data.count)
        let end = min(start + config.snapshotChunkBytes, snap.data.count)
        let chunk = Message.SnapshotChunk(
            metadata: snap.metadata, totalBytes: snap.data.count, offset: start, data: Array(snap.data[start..<end]))
        send(to: peer, .snapshotChunk(chunk))
    }

    mutating func handleSnapshotAck(from peer: NodeID, index: LogIndex, receivedBytes: Int) {
        // The follower's count is the truth, even when lower than ours (it restarted, or an ack was
        // reordered): resuming from there converges, ignoring it could stall forever. An ack equal
        // to the offset already acted on is a duplicate (of an ack, or the answer to a duplicated
        // chunk): answering it too would put a second chunk stream in flight, and with every
        // further duplicate another, until the network holds nothing else.
        guard var pr = progress[peer], pr.state == .snapshot, pr.snapshotIndex == index, pr.snapshotOffset != receivedBytes else { return }
        pr.snapshotOffset = receivedBytes
        progress[peer] = pr
        if let snap = snapshot, receivedBytes < snap.data.count {
            resendSnapshotChunk(to: peer)
        }
        // When every byte is in, the follower installs the snapshot and answers with an append
        // acknowledgement once it is durable; that moves the progress back to probe.
    }

    /// The follower side: collect chunks in order; install when complete.
    mutating func handleSnapshotChunk(from leaderID: NodeID, _ chunk: Message.SnapshotChunk) {
        let meta = chunk.metadata
        if meta.index <= log.committed {
            // Already have everything it covers.
            send(to: leaderID, .appendResponse(.accepted(matchIndex: log.committed)))
            return
        }
        if chunk.offset == 0 && (incomingSnapshot?.metadata != meta || incomingSnapshot?.total != chunk.totalBytes) {
            // A new transfer. A duplicate of the first chunk of the current one must not reset it
            // (found by the simulator: seed 2470 on 5 nodes stalled on a reset buffer).
            incomingSnapshot = (meta, chunk.totalBytes, [])
        }
        guard var incoming = incomingSnapshot, incoming.metadata == meta, incoming.total == chunk.totalBytes else {
            send(to: leaderID, .snapshotAck(index: meta.index, receivedBytes: 0))
            return
        }
        if chunk.offset == incoming.data.count {
            incoming.data.append(contentsOf: chunk.data)
        }
        incomingSnapshot = incoming
        guard incoming.data.count >= incoming.total else {
            send(to: leaderID, .snapshotAck(index: meta.index, receivedBytes: incoming.data.count))
            return
        }
        incomingSnapshot = nil
        installSnapshot(Snapshot(metadata: meta, data: incoming.data))
        send(to: leaderID, .appendResponse(.accepted(matchIndex: log.lastIndex)))
    }

    mutating func installSnapshot(_ snap: Snapshot) {
        log.restore(snap.metadata)
        configuration = snap.metadata.configuration
        snapshot = snap
        snapshotToInstall = snap
    }
}
