/// Real HTTP/2 clients for the edge-protocol tests: curl (its HTTP/2 is nghttp2) and Python's httpx and h2
/// (Tests/Clients/http2_client.py, installed by scripts/setup --tests).
import Foundation
import GatewayCore
import Testing

/// A response as an HTTP/2 client saw it.
struct ClientResponse: Sendable {
    var status: Int
    /// "HTTP/2", "HTTP/1.1" (httpx) or "2", "1.1" (curl).
    var version: String
    var headers: [(name: String, value: String)]
    var body: String

    func header(_ name: String) -> String? { headers(name).first }
    func headers(_ name: String) -> [String] {
        headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
    }
    var json: JSONValue? { JSONValue.parse(Array(body.utf8)) }
}

/// One request for `HTTP2Client.requests`.
struct ClientRequest: Sendable {
    var method = "GET"
    var path: String
    var headers: [(String, String)] = []
    var body: String?

    var json: [String: Any] {
        var object: [String: Any] = ["method": method, "path": path, "headers": headers.map { [$0.0, $0.1] }]
        if let body { object["body"] = body }
        return object
    }
}

enum HTTP2Client {
    static let script = PythonProcess.repository.appendingPathComponent("Tests/Clients/http2_client.py").path

    /// Sends `requests` over one HTTP/2 connection with httpx, one after the other or all at once.
    static func requests(_ base: String, caFile: String? = nil, concurrent: Bool = false,
                         _ requests: [ClientRequest]) async throws -> [ClientResponse] {
        var arguments = ["python3", script, "requests", base]
        if let caFile { arguments += ["--cafile", caFile] }
        if concurrent { arguments.append("--concurrent") }
        let input = String(decoding: try JSONSerialization.data(withJSONObject: requests.map(\.json)), as: UTF8.self)
        let outcome = try await ExternalCommand.run(arguments, input: input)
        try #require(outcome.status == 0, "http2_client.py failed: \(outcome.stderr)")
        let results = try #require(try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [[String: Any]])
        return try results.map { result in
            if let error = result["error"] as? String { throw ClientError(description: error) }
            let headers = (result["headers"] as? [[String]] ?? []).map { (name: $0[0], value: $0[1]) }
            return ClientResponse(status: result["status"] as? Int ?? 0, version: result["version"] as? String ?? "",
                                  headers: headers, body: result["body"] as? String ?? "")
        }
    }

    static func request(_ base: String, caFile: String? = nil, _ request: ClientRequest) async throws -> ClientResponse {
        try await requests(base, caFile: caFile, [request])[0]
    }

    /// The SETTINGS the server sent first, by lower-cased name (`max_concurrent_streams`…), with the h2 library.
    static func settings(_ base: String, caFile: String? = nil) async throws -> [String: Int] {
        var arguments = ["python3", script, "settings", base]
        if let caFile { arguments += ["--cafile", caFile] }
        let outcome = try await ExternalCommand.run(arguments)
        try #require(outcome.status == 0, "http2_client.py failed: \(outcome.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Int])
    }

    struct ClientError: Error, CustomStringConvertible {
        let description: String
    }
}

/// nghttp (nghttp2-client), whose verbose output shows every frame: for what httpx and h2 do not expose, such as
/// the two GOAWAY frames of a graceful shutdown (the h2 library takes the first one as the end of everything).
enum NGHTTP {
    struct Outcome: Sendable {
        /// The GOAWAY frames received, with their last stream id.
        var goawayLastStreamIDs: [Int]
        var status: Int?
        var output: String
    }

    /// Fetches `url` with prior knowledge (http://) or ALPN (https://), printing frames.
    static func get(_ url: String) async throws -> Outcome {
        let outcome = try await ExternalCommand.run(["nghttp", "-v", "--no-dep", "--timeout=20", url])
        let lines = outcome.stdout.components(separatedBy: "\n")
        var goaways: [Int] = []
        var status: Int?
        for (index, line) in lines.enumerated() {
            if line.contains("recv GOAWAY frame"), index + 1 < lines.count,
               let range = lines[index + 1].range(of: "last_stream_id=") {
                goaways.append(Int(lines[index + 1][range.upperBound...].prefix { $0.isNumber }) ?? -1)
            }
            if let range = line.range(of: ":status: ") {
                status = Int(line[range.upperBound...].trimmingCharacters(in: .whitespaces))
            }
        }
        return Outcome(goawayLastStreamIDs: goaways, status: status, output: outcome.stdout + outcome.stderr)
    }
}

/// The curl command line (its HTTP/2 is nghttp2's).
enum Curl {
    /// Runs curl with `arguments` before `url`; the response as curl printed it (`-i`). Throws when curl fails.
    static func get(_ url: String, _ arguments: [String] = []) async throws -> ClientResponse {
        let marker = "\n--curl-http-version:"
        let outcome = try await ExternalCommand.run(["curl", "-sS", "-i", "--max-time", "20"] + arguments
                                                    + ["-w", marker + "%{http_version}", url])
        guard outcome.status == 0 else { throw HTTP2Client.ClientError(description: "curl exited \(outcome.status): \(outcome.stderr)") }
        var text = outcome.stdout
        let versionRange = try #require(text.range(of: marker, options: .backwards))
        let version = String(text[versionRange.upperBound...])
        text = String(text[..<versionRange.lowerBound])
        let split = try #require(text.range(of: "\r\n\r\n"))
        let headLines = text[..<split.lowerBound].components(separatedBy: "\r\n")
        let status = Int(headLines[0].split(separator: " ").dropFirst().first ?? "") ?? 0
        let headers = headLines.dropFirst().compactMap { line -> (name: String, value: String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        return ClientResponse(status: status, version: version, headers: headers, body: String(text[split.upperBound...]))
    }
}
