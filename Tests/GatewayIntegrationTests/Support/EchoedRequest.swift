/// The echo body of TestUpstream: the headers the upstream received.
import Foundation
import GatewayCore

struct EchoedRequest {
    var method: String
    var uri: String
    var headers: [(name: String, value: String)]

    init(_ response: HTTPTestResponse) throws {
        let object = try response.jsonObject()
        method = object["method"] as? String ?? ""
        uri = object["uri"] as? String ?? ""
        headers = (object["headers"] as? [[String]] ?? []).compactMap { $0.count == 2 ? (name: $0[0], value: $0[1]) : nil }
    }

    /// The echo body as a client other than HTTPTestClient read it.
    init(json: JSONValue) throws {
        method = json["method"]?.stringValue ?? ""
        uri = json["uri"]?.stringValue ?? ""
        if case .array(let pairs)? = json["headers"] {
            headers = pairs.compactMap { pair in
                guard case .array(let parts) = pair, parts.count == 2,
                      let name = parts[0].stringValue, let value = parts[1].stringValue else { return nil }
                return (name: name, value: value)
            }
        } else {
            headers = []
        }
    }

    func headers(_ name: String) -> [String] {
        headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
    }

    func header(_ name: String) -> String? { headers(name).first }
}
