import NIOCore
import NIOHTTP1

/// A response the gateway writes itself (errors, health, its own endpoints).
public struct LocalResponse: Sendable, Equatable {
    public var status: HTTPResponseStatus
    public var headers: HTTPHeaders
    public var body: ByteBuffer
    /// Whose session an answer is about (login, refresh), for the access log; never sent.
    struct Subject: Sendable, Equatable {
        let userID: String
        let sessionID: String
    }

    var subject: Subject?

    public init(status: HTTPResponseStatus, json: String, headers: HTTPHeaders = [:]) {
        self.status = status
        self.headers = headers
        self.body = ByteBuffer(string: json)
    }

    /// A body passed through as it is (its content type, if any, is in `headers`).
    public init(status: HTTPResponseStatus, body: ByteBuffer, headers: HTTPHeaders) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}
