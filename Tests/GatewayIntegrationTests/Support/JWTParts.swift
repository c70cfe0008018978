/// JWT inspection independent of the gateway's verifier: header and payload decoded, a signature tampered with.
import Foundation
import GatewayCore
import Testing

enum JWTParts {
    static func base64URLDecode(_ text: Substring) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64)
    }

    static func base64URLDecode(_ text: String) -> Data? { base64URLDecode(Substring(text)) }

    /// The payload of a compact JWS, decoded as JSON values (integers stay integers).
    static func payload(_ token: String) throws -> [String: JSONValue] { try object(at: 1, of: token) }

    static func header(_ token: String) throws -> [String: JSONValue] { try object(at: 0, of: token) }

    /// Part `index` of a compact JWS (0 the header, 1 the payload) decoded as a JSON object.
    private static func object(at index: Int, of token: String) throws -> [String: JSONValue] {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let data = base64URLDecode(parts[index]),
              case .object(let object)? = JSONValue.parse(Array(data))
        else { throw HTTPTestClientError.malformedResponse("not a JWT: \(token)") }
        return object
    }

    /// `token` with one character in the middle of its signature changed (a bad signature, still well-formed).
    static func tamperedSignature(_ token: String) -> String {
        var characters = Array(token)
        let signatureStart = (characters.lastIndex(of: ".") ?? 0) + 1
        let index = signatureStart + (characters.count - signatureStart) / 2
        characters[index] = characters[index] == "A" ? "B" : "A"
        return String(characters)
    }

    static func jti(_ token: String) throws -> String {
        try #require(try payload(token)["jti"]?.stringValue)
    }
}
