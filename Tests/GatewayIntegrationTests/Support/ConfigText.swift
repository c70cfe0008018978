/// Config text for tests: `${NAME}` placeholders are filled from the given values before the gateway
/// reads it (names not given are left for the gateway's own environment substitution).
enum ConfigText {
    static func fill(_ template: String, _ values: [String: String]) -> String {
        var text = template
        for (name, value) in values {
            text = text.replacingOccurrences(of: "${\(name)}", with: value)
        }
        return text
    }
}
