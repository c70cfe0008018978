/// One thing wrong with a config file, located by file, key and (when known) line.
public struct ConfigProblem: Sendable, Hashable, CustomStringConvertible {
    public let file: String
    public let key: String
    public let line: Int?
    public let message: String

    /// `gateway.conf: routes[1].auth: expected …` (docs/operations.md#commands), with ` (line N)` when the line is known.
    public var description: String {
        let location = key.isEmpty ? "\(file):" : "\(file): \(key):"
        let suffix = line.map { " (line \($0))" } ?? ""
        return "\(location) \(message)\(suffix)"
    }
}

/// Every problem found in a config file; `gateway check` prints one per line.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public let problems: [ConfigProblem]

    public init(problems: [ConfigProblem]) { self.problems = problems }

    public init(file: String, key: String = "", line: Int? = nil, _ message: String) {
        self.problems = [ConfigProblem(file: file, key: key, line: line, message: message)]
    }

    public var description: String { problems.map(\.description).joined(separator: "\n") }
}
