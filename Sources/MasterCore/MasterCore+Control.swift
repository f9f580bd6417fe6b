import Control
import Host
import Master
import Raft
import Store

/// Drives the control plane: every master feeds it what it applies; the leader lets it act once
/// an entry of its own term has applied (its state then holds everything committed before it,
/// Raft §5.4.2 / thesis §6.4) and proposes its writes under this master's session. Losing
/// leadership stops it and drops its pending work.
extension MasterCore {
    /// Feeds the control plane the change an applied entry made.
    func observe(at index: LogIndex, _ applied: KVStore.Applied) {
        guard applied.position == index, case .ok = applied.result, let request = applied.request else { return }
        switch request.operation {
        case .create(let key, let value), .update(let key, let value, _): control.observe(key: key, value: value, version: index)
        case .delete(let key, _): control.observe(key: key, value: nil, version: index)
        }
    }

    /// Starts, stops and runs the control plane as leadership and applied state allow. Returns
    /// whether it proposed anything.
    func runControlPlane() -> Bool {
        let node = host.node
        guard node.role == .leader else {
            if control.leading { control.stepDown() }
            return false
        }
        if control.leading, controlTerm != node.term { control.stepDown() }
        if !control.leading {
            let current = node.hasCommittedInTerm && store.appliedIndex >= node.commitIndex
            guard current || node.config.plantedBugs.contains(.controllersActBeforeTermApplied) else { return false }
            controlTerm = node.term
            control.lead(nowNs: nowNs)
        }
        let writes = control.reconcile(nowNs: nowNs)
        for write in writes { proposeControl(write) }
        return !writes.isEmpty
    }

    func proposeControl(_ write: ControlWrite) {
        let operation: KVRequest.Operation
        switch write.operation {
        case .create(let key, let object): operation = .create(key: key, value: object.text)
        case .update(let key, let object, let expected): operation = .update(key: key, value: object.text, expectedVersion: expected)
        case .delete(let key, let expected): operation = .delete(key: key, expectedVersion: expected)
        }
        let id = write.id
        let waiting = PendingWrite(
            completion: { [unowned self] applied in
                if case .ok = applied.result { control.finished(id, succeeded: true) } else { control.finished(id, succeeded: false) }
            },
            timedOut: { [unowned self] in control.finished(id, succeeded: false) })
        if propose(operation, waiting) != nil {
            control.finished(id, succeeded: false)
        } else {
            controlWrites += 1
        }
    }
}
