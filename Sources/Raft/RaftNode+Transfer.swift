/// Leadership transfer (thesis §3.10): the leader brings the target's log up to date, then tells
/// it to campaign at once with TimeoutNow. Proposals are refused meanwhile.
extension RaftNode {
    /// Asks the leader to hand leadership to `target`. Ignored on followers, for unknown targets,
    /// and while the same transfer is already underway. Abandoned after an election timeout.
    public mutating func transferLeadership(to target: NodeID) {
        guard role == .leader, target != id, configuration.contains(target), leadTransferee != target else { return }
        leadTransferee = target
        electionElapsed = 0
        if progress[target]?.match == log.lastIndex {
            send(to: target, .timeoutNow)
        } else {
            sendAppend(to: target, allowEmpty: true)
        }
    }
}
