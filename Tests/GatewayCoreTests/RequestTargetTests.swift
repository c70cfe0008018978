import Testing
@testable import GatewayCore

/// The request target as routing sees it (docs/http.md#forwarding): dot segments removed, nothing decoded, the query untouched.
struct RequestTargetTests {
    @Test(arguments: [
        ("/public/../api/x", "/api/x"),
        ("/a/./b", "/a/b"),
        ("/a/b/..", "/a/"),
        ("/a/b/.", "/a/b/"),
        ("/a/b/../", "/a/"),
        ("/a/..", "/"),
        ("/.", "/"),
        ("/./", "/"),
        ("/a/b/../../c", "/c"),
        ("/a//../b", "/a/b"),
        ("/a/./././b/", "/a/b/"),
        ("/api/admin/../users", "/api/users"),
    ])
    func dotSegmentsAreRemoved(uri: String, path: String) throws {
        #expect(try RequestTarget(parsing: uri).path == Substring(path))
    }

    /// Segments are split on the byte '/': a combining mark right after a '/' is a segment of its own, not a
    /// grapheme that swallows the separator (by Character the segment vanished: "/\u{301}/a/./b" became "/a/b").
    @Test func aCombiningMarkAfterASlashStaysItsOwnSegment() throws {
        #expect(try RequestTarget(parsing: "/\u{301}/a/./b").path.utf8.elementsEqual("/\u{301}/a/b".utf8))
        #expect(try RequestTarget(parsing: "/public/\u{301}/../api/x").path.utf8.elementsEqual("/public/api/x".utf8))
        #expect(try RequestTarget(parsing: "/caf\u{E9}/./menu").path.utf8.elementsEqual("/caf\u{E9}/menu".utf8))
    }

    @Test(arguments: [
        "/", "/api/x", "/api/", "/a//b", "/a/..b/c", "/a/b../c", "/a/.../b", "/.well-known/jwks.json", "/a/.b",
    ])
    func pathWithoutDotSegmentsIsUnchanged(uri: String) throws {
        #expect(try RequestTarget(parsing: uri).path == Substring(uri))
    }

    @Test(arguments: ["/..", "/../", "/../api/x", "/a/../..", "/a/b/../../../c", "/./.."])
    func pathClimbingAboveRootIsBadRequest(uri: String) {
        #expect(throws: GatewayError.badRequest) { try RequestTarget(parsing: uri) }
    }

    @Test(arguments: ["/a/%2e%2e/b", "/a/%2E%2E/b", "/a/.%2e/b", "/%2e%2e", "/api%2Fadmin/x", "/caf%C3%A9"])
    func percentEncodedBytesAreNotDecoded(uri: String) throws {
        #expect(try RequestTarget(parsing: uri).path == Substring(uri))
    }

    @Test(arguments: [
        ("/p?q", "/p", "q"),
        ("/p?a=1&b=%2F&c=/../x", "/p", "a=1&b=%2F&c=/../x"),
        ("/p?a=1?b=2", "/p", "a=1?b=2"),
        ("/a/../p?x=%20+y", "/p", "x=%20+y"),
        ("/p?", "/p", ""),
    ])
    func queryIsKeptByteForByte(uri: String, path: String, query: String) throws {
        let target = try RequestTarget(parsing: uri)
        #expect(target.path == Substring(path))
        #expect(target.query == Substring(query))
    }

    @Test func targetWithoutQuestionMarkHasNoQuery() throws {
        #expect(try RequestTarget(parsing: "/p").query == nil)
    }

    @Test(arguments: [
        ("http://host/p?q", "/p", "q" as String?),
        ("https://host:8443/a/../b", "/b", nil),
        ("HTTP://host/p", "/p", nil),
        ("http://host", "/", nil),
        ("http://host?x=/y", "/", "x=/y"),
        ("http://host/a?b?c", "/a", "b?c"),
    ])
    func absoluteFormKeepsPathAndQuery(uri: String, path: String, query: String?) throws {
        let target = try RequestTarget(parsing: uri)
        #expect(target.path == Substring(path))
        #expect(target.query == query.map { Substring($0) })
    }

    @Test(arguments: [
        "/p#frag", "/p?q#frag", "/a b", "/p?a b", "/a\u{01}", "/a\u{7F}", "/a\tb", "/a\r\nb",
        "*", "p", "", "ftp://host/p", "http://host/../x",
    ])
    func malformedTargetIsBadRequest(uri: String) {
        #expect(throws: GatewayError.badRequest) { try RequestTarget(parsing: uri) }
    }

    @Test(arguments: ["/public/..\\api/x", "/api\\x", "/a?x=\\"])
    func backslashIsRefused(uri: String) {
        #expect(throws: GatewayError.badRequest) { try RequestTarget(parsing: uri) }
    }
}
