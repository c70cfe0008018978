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

    /// `text` with the access log off unless it has a `[log]` table: the log's default is stdout, and in the test
    /// process only a test that asks for one gets one.
    static func inProcess(_ text: String) -> String {
        text.contains("[log]") ? text : text + "\n[log]\naccess = \"off\"\n"
    }
}
