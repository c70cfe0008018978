/// A response body as the gateway's own JSON values, for comparing whole bodies.
import GatewayCore

extension HTTPTestResponse {
    /// The body as JSON values (integers stay integers).
    var json: JSONValue? { JSONValue.parse(body) }
}
