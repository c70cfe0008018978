/// Cookies in a response's `Set-Cookie` headers: a value, or the attributes.
import Foundation

/// The value of cookie `name` in the response's `Set-Cookie` headers, nil when absent.
func setCookieValue(_ response: HTTPTestResponse, name: String) -> String? {
    for header in response.headers("set-cookie") {
        let first = header.split(separator: ";", maxSplits: 1).first.map(String.init) ?? ""
        let pair = first.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        if pair.count == 2, pair[0].trimmingCharacters(in: .whitespaces) == name {
            return String(pair[1])
        }
    }
    return nil
}

/// The attributes of the `Set-Cookie` header for `name` (lower-cased names; values as sent).
func setCookieAttributes(_ response: HTTPTestResponse, name: String) -> [String: String]? {
    for header in response.headers("set-cookie") {
        let parts = header.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let first = parts.first, first.hasPrefix(name + "=") else { continue }
        var attributes: [String: String] = [:]
        for part in parts.dropFirst() {
            let pair = part.split(separator: "=", maxSplits: 1).map(String.init)
            attributes[pair[0].lowercased()] = pair.count > 1 ? pair[1] : ""
        }
        return attributes
    }
    return nil
}
