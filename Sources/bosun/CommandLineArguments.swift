/// Arguments in the style kubectl users type: `-n ns`, `-n=ns`, `--namespace ns`,
/// `--namespace=ns`, `-owide`, boolean flags (`-A`, `--watch`), repeated flags (`-f a -f b`),
/// positional words in between, and `--` to end the flags. Unknown flags and missing values are
/// usage errors.
struct CommandLineArguments {
    struct Flag {
        var name: String
        var short: Character?
        var takesValue: Bool
    }

    private(set) var values: [String: [String]] = [:]
    private(set) var positional: [String] = []

    init(_ arguments: [String], flags: [Flag]) throws(Flags.UsageError) {
        var rest = arguments[...]
        while let argument = rest.popFirst() {
            if argument == "--" {
                positional += rest
                break
            }
            guard argument.hasPrefix("-"), argument.count > 1 else {
                positional.append(argument)
                continue
            }
            let flag: Flag
            var inline: String? = nil
            if argument.hasPrefix("--") {
                var name = String(argument.dropFirst(2))
                if let eq = name.firstIndex(of: "=") {
                    inline = String(name[name.index(after: eq)...])
                    name = String(name[..<eq])
                }
                guard let found = flags.first(where: { $0.name == name }) else { throw Flags.UsageError(message: "unknown flag --\(name)") }
                flag = found
            } else {
                let letter = argument.dropFirst().first!
                guard let found = flags.first(where: { $0.short == letter }) else { throw Flags.UsageError(message: "unknown shorthand flag -\(letter)") }
                flag = found
                let tail = argument.dropFirst(2)
                if !tail.isEmpty {
                    guard flag.takesValue else { throw Flags.UsageError(message: "-\(letter) takes no value") }
                    inline = String(tail.hasPrefix("=") ? tail.dropFirst() : tail)
                }
            }
            if flag.takesValue {
                guard let value = inline ?? rest.popFirst() else { throw Flags.UsageError(message: "--\(flag.name) needs a value") }
                values[flag.name, default: []].append(value)
            } else {
                if let inline, inline != "true" {
                    guard inline == "false" else { throw Flags.UsageError(message: "--\(flag.name) is true or false, not '\(inline)'") }
                    values[flag.name] = nil
                    continue
                }
                values[flag.name] = ["true"]
            }
        }
    }

    func isSet(_ name: String) -> Bool { values[name] != nil }
    func value(_ name: String) -> String? { values[name]?.last }
    func all(_ name: String) -> [String] { values[name] ?? [] }
}
