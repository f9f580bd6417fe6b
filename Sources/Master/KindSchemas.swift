/// The schemas of the kinds Bosun serves: the fields the scheduler, controllers and agents use
/// are typed; the rest of each Kubernetes type is named (so strict validation accepts real
/// manifests) and kept verbatim.
enum KindSchemas {
    static let strings = Schema.map(.string)
    static let stringList = Schema.list(.string)
    static let time = Schema.string

    static let ownerReference = Schema.object(
        ["apiVersion": .string, "kind": .string, "name": .string, "uid": .string, "controller": .boolean, "blockOwnerDeletion": .boolean],
        required: ["apiVersion", "kind", "name", "uid"])

    static let objectMeta = Schema.object([
        "name": .string, "generateName": .string, "namespace": .string, "selfLink": .string, "uid": .string,
        "resourceVersion": .string, "generation": .integer, "creationTimestamp": time, "deletionTimestamp": time,
        "deletionGracePeriodSeconds": .integer, "labels": strings, "annotations": strings,
        "ownerReferences": .list(ownerReference, mergeKey: "uid"), "finalizers": stringList, "managedFields": .any,
    ])

    static let condition = Schema.object(
        ["type": .string, "status": .string, "reason": .string, "message": .string, "lastProbeTime": time,
         "lastTransitionTime": time, "lastUpdateTime": time, "lastHeartbeatTime": time, "observedGeneration": .integer],
        required: ["type", "status"], open: true)
    static let conditions = Schema.list(condition, mergeKey: "type")

    static let resources = Schema.object(["requests": .map(.quantity), "limits": .map(.quantity), "claims": .any])

    static let container = Schema.object(
        [
            "name": .string, "image": .string, "command": stringList, "args": stringList, "workingDir": .string,
            "ports": .list(.object(["containerPort": .integer, "name": .string, "protocol": .string, "hostPort": .integer, "hostIP": .string],
                                   required: ["containerPort"]), mergeKey: "containerPort"),
            "envFrom": .any,
            "env": .list(.object(["name": .string, "value": .string, "valueFrom": .any], required: ["name"]), mergeKey: "name"),
            "resources": resources, "resizePolicy": .any, "restartPolicy": .string,
            "volumeMounts": .list(.any, mergeKey: "mountPath"), "volumeDevices": .list(.any, mergeKey: "devicePath"),
            "livenessProbe": .any, "readinessProbe": .any, "startupProbe": .any, "lifecycle": .any,
            "terminationMessagePath": .string, "terminationMessagePolicy": .string, "imagePullPolicy": .string,
            "securityContext": .any, "stdin": .boolean, "stdinOnce": .boolean, "tty": .boolean,
        ], required: ["name"])

    static let toleration = Schema.object(["key": .string, "operator": .string, "value": .string, "effect": .string, "tolerationSeconds": .integer])

    static let podSpec = Schema.object(
        [
            "volumes": .list(.any, mergeKey: "name"), "initContainers": .list(container, mergeKey: "name"),
            "containers": .list(container, mergeKey: "name"), "ephemeralContainers": .any, "restartPolicy": .string,
            "terminationGracePeriodSeconds": .integer, "activeDeadlineSeconds": .integer, "dnsPolicy": .string,
            "nodeSelector": strings, "serviceAccountName": .string, "serviceAccount": .string,
            "automountServiceAccountToken": .boolean, "nodeName": .string, "hostNetwork": .boolean, "hostPID": .boolean,
            "hostIPC": .boolean, "shareProcessNamespace": .boolean, "securityContext": .any,
            "imagePullSecrets": .list(.any, mergeKey: "name"), "hostname": .string, "subdomain": .string, "affinity": .any,
            "schedulerName": .string, "tolerations": .list(toleration), "hostAliases": .any, "priorityClassName": .string,
            "priority": .integer, "dnsConfig": .any, "readinessGates": .any, "runtimeClassName": .string,
            "enableServiceLinks": .boolean, "preemptionPolicy": .string, "overhead": .map(.quantity),
            "topologySpreadConstraints": .any, "setHostnameAsFQDN": .boolean, "os": .any, "hostUsers": .boolean,
            "schedulingGates": .any, "resourceClaims": .any, "resources": .any,
        ], required: ["containers"])

    static let containerStatus = Schema.object(
        ["name": .string, "ready": .boolean, "restartCount": .integer, "image": .string, "imageID": .string,
         "containerID": .string, "started": .boolean, "state": .any, "lastState": .any],
        required: ["name"], open: true)

    static let podStatus = Schema.object(
        ["phase": .string, "conditions": conditions, "hostIP": .string, "podIP": .string, "startTime": time,
         "containerStatuses": .list(containerStatus), "initContainerStatuses": .list(containerStatus),
         "message": .string, "reason": .string, "nominatedNodeName": .string, "qosClass": .string],
        open: true)

    static let labelSelector = Schema.object([
        "matchLabels": strings,
        "matchExpressions": .list(.object(["key": .string, "operator": .string, "values": stringList], required: ["key", "operator"])),
    ])

    static let podTemplate = Schema.object(["metadata": objectMeta, "spec": podSpec])

    static let taint = Schema.object(["key": .string, "value": .string, "effect": .string, "timeAdded": time], required: ["key", "effect"])

    static let nodeSpec = Schema.object(
        ["podCIDR": .string, "podCIDRs": stringList, "providerID": .string, "unschedulable": .boolean, "taints": .list(taint)], open: true)

    static let nodeStatus = Schema.object(
        ["capacity": .map(.quantity), "allocatable": .map(.quantity), "conditions": conditions, "phase": .string,
         "addresses": .list(.object(["type": .string, "address": .string]), mergeKey: "type"), "nodeInfo": .any],
        open: true)

    static let deploymentSpec = Schema.object(
        [
            "replicas": .integer, "selector": labelSelector, "template": podTemplate,
            "strategy": .object(["type": .string, "rollingUpdate": .object(["maxSurge": .intOrString, "maxUnavailable": .intOrString])]),
            "minReadySeconds": .integer, "revisionHistoryLimit": .integer, "paused": .boolean, "progressDeadlineSeconds": .integer,
        ], required: ["selector", "template"])

    static let deploymentStatus = Schema.object(
        ["observedGeneration": .integer, "replicas": .integer, "updatedReplicas": .integer, "readyReplicas": .integer,
         "availableReplicas": .integer, "unavailableReplicas": .integer, "conditions": conditions, "collisionCount": .integer],
        open: true)

    static let replicaSetSpec = Schema.object(
        ["replicas": .integer, "minReadySeconds": .integer, "selector": labelSelector, "template": podTemplate],
        required: ["selector"])

    static let replicaSetStatus = Schema.object(
        ["replicas": .integer, "fullyLabeledReplicas": .integer, "readyReplicas": .integer, "availableReplicas": .integer,
         "observedGeneration": .integer, "conditions": conditions],
        open: true)

    static let leaseSpec = Schema.object([
        "holderIdentity": .string, "leaseDurationSeconds": .integer, "acquireTime": time, "renewTime": time,
        "leaseTransitions": .integer, "strategy": .string, "preferredHolder": .string,
    ])

    /// The whole object of a kind: `apiVersion`, `kind`, `metadata` and the kind's own fields.
    static func top(_ fields: [String: Schema]) -> Schema {
        .object(fields.merging(["apiVersion": .string, "kind": .string, "metadata": objectMeta]) { a, _ in a }, required: ["metadata"])
    }

    static let namespace = top(["spec": .object(["finalizers": stringList]), "status": .object(["phase": .string, "conditions": .any])])
    static let configMap = top(["data": strings, "binaryData": strings, "immutable": .boolean])
    static let pod = top(["spec": podSpec, "status": podStatus])
    static let node = top(["spec": nodeSpec, "status": nodeStatus])
    static let replicaSet = top(["spec": replicaSetSpec, "status": replicaSetStatus])
    static let deployment = top(["spec": deploymentSpec, "status": deploymentStatus])
    static let lease = top(["spec": leaseSpec])
    static let event = top([
        "involvedObject": .object(["kind": .string, "namespace": .string, "name": .string, "uid": .string, "apiVersion": .string,
                                   "resourceVersion": .string, "fieldPath": .string]),
        "reason": .string, "message": .string, "source": .object(["component": .string, "host": .string]),
        "firstTimestamp": time, "lastTimestamp": time, "count": .integer, "type": .string, "eventTime": .any,
        "series": .any, "action": .string, "related": .any, "reportingComponent": .string, "reportingInstance": .string,
    ])
}
