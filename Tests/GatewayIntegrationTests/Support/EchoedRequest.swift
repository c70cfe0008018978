/// The echo body of TestUpstream: the headers the upstream received.
import Foundation

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

    func headers(_ name: String) -> [String] {
        headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
    }

    func header(_ name: String) -> String? { headers(name).first }
}
