// swift-tools-version:6.1
import PackageDescription

/// Bosun: a small, highly available container orchestrator.
///
/// Core targets (`Raft`, `Store`, `Master`, `Host`, `Control`, `MasterCore`) are deterministic, synchronous state machines;
/// the simulator under `Simulation/` drives them against a simulated world.
let package = Package(
    name: "Bosun",
    products: [
        .executable(name: "bosun-sim", targets: ["bosun-sim"]),
        .executable(name: "bosun", targets: ["bosun"]),
        .executable(name: "bosun-bench", targets: ["bosun-bench"]),
    ],
    targets: [
        .target(name: "Raft", path: "Sources/Raft"),
        .target(name: "Store", dependencies: ["Raft"], path: "Sources/Store"),
        .target(name: "Master", dependencies: ["Store"], path: "Sources/Master"),
        .target(name: "Host", dependencies: ["Raft", "Store"], path: "Sources/Host"),
        .target(name: "Control", dependencies: ["Master", "Raft"], path: "Sources/Control"),
        .target(name: "Agent", dependencies: ["Master", "Raft"], path: "Sources/Agent"),
        .target(name: "MasterCore", dependencies: ["Control", "Host", "Master", "Raft", "Store"], path: "Sources/MasterCore"),
        .target(name: "CSystem", path: "Sources/CSystem"),
        .target(name: "Runtime", dependencies: ["Agent", "Raft", "Store", "Host", "Master", "MasterCore", "CSystem"], path: "Sources/Runtime"),
        .executableTarget(name: "bosun", dependencies: ["Agent", "Runtime", "Master", "Raft"], path: "Sources/bosun"),
        .executableTarget(name: "bosun-bench", dependencies: ["Control", "Master"], path: "Sources/bosun-bench"),
        .target(
            name: "BosunSimulation",
            dependencies: ["Agent", "Control", "Raft", "Store", "Host", "Master", "MasterCore"],
            path: "Simulation/BosunSimulation"
        ),
        .executableTarget(
            name: "bosun-sim",
            dependencies: ["BosunSimulation"],
            path: "Simulation/bosun-sim"
        ),
        .testTarget(name: "RaftTests", dependencies: ["Raft", "Host"], path: "Tests/RaftTests"),
        .testTarget(name: "StoreTests", dependencies: ["Store", "Raft"], path: "Tests/StoreTests"),
        .testTarget(name: "MasterTests", dependencies: ["Master", "Store", "Raft"], path: "Tests/MasterTests", exclude: ["Corpus"]),
        .testTarget(name: "RuntimeTests", dependencies: ["Agent", "Runtime", "Host", "Master", "Raft", "Store"], path: "Tests/RuntimeTests"),
        .testTarget(name: "AgentTests", dependencies: ["Agent", "Master"], path: "Tests/AgentTests"),
        .testTarget(name: "ControlTests", dependencies: ["Control", "Master"], path: "Tests/ControlTests"),
        .testTarget(name: "ClusterTests", dependencies: ["Master"], path: "Tests/ClusterTests"),
        .testTarget(
            name: "SimulationTests",
            dependencies: ["BosunSimulation", "Host", "Master", "Raft", "Store"],
            path: "Tests/SimulationTests"
        ),
    ],
    swiftLanguageModes: [.v6]
)
