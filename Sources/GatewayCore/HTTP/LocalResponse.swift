import NIOCore
import NIOHTTP1

/// A response the gateway writes itself (errors, health, its own endpoints).
public struct LocalResponse: Sendable, Equatable {
    public static func == (a: LocalResponse, b: LocalResponse) -> Bool {
        a.status == b.status && a.headers == b.headers && a.body == b.body && a.subject?.userID == b.subject?.userID
            && a.subject?.sessionID == b.subject?.sessionID
    }

    public var status: HTTPResponseStatus
    public var headers: HTTPHeaders
    public var body: ByteBuffer
    /// Whose session the answer is about (login, refresh), for the access log; never sent.
    var subject: (userID: String, sessionID: String)?

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
