import Testing
@testable import GatewayCore

/// RFC 6901 JSON pointers, as `auth.user_pointer`, `user_id_pointer` and `auth.claims` use them.
struct JSONPointerTests {
    /// The example document of RFC 6901 §5.
    static let document = JSONValue.object([
        "foo": .array([.string("bar"), .string("baz")]),
        "": .integer(0),
        "a/b": .integer(1),
        "c%d": .integer(2),
        "e^f": .integer(3),
        "g|h": .integer(4),
        "i\\j": .integer(5),
        "k\"l": .integer(6),
        " ": .integer(7),
        "m~n": .integer(8),
    ])

    @Test(arguments: [
        ("/foo", JSONValue.array([.string("bar"), .string("baz")])),
        ("/foo/0", .string("bar")),
        ("/foo/1", .string("baz")),
        ("/", .integer(0)),
        ("/a~1b", .integer(1)),
        ("/c%d", .integer(2)),
        ("/e^f", .integer(3)),
        ("/g|h", .integer(4)),
        ("/i\\j", .integer(5)),
        ("/k\"l", .integer(6)),
        ("/ ", .integer(7)),
        ("/m~0n", .integer(8)),
    ])
    func rfc6901Examples(pointer: String, expected: JSONValue) throws {
        #expect(try JSONPointer(parsing: pointer).resolve(in: Self.document) == expected)
    }

    /// RFC 6901 reads code points: `/` then a combining mark is one token, the mark (the leading `/` was checked by
    /// grapheme cluster, which refused it: Fuzz/crashes/json-pointer-leading-slash-with-combining-mark).
    @Test func combiningMarkRightAfterTheLeadingSlashIsAToken() throws {
        let pointer = try JSONPointer(parsing: "/\u{301}")
        #expect(pointer.tokens == ["\u{301}"])
    }

    @Test func emptyPointerIsTheWholeDocument() throws {
        let pointer = try JSONPointer(parsing: "")
        #expect(pointer == .root)
        #expect(pointer.tokens.isEmpty)
        #expect(pointer.resolve(in: Self.document) == Self.document)
        #expect(pointer.resolve(in: .string("x")) == .string("x"))
    }

    @Test(arguments: [
        ("/a~1b/c~0d", ["a/b", "c~d"]),
        ("/~01", ["~1"]),
        ("/~10", ["/0"]),
        ("//", ["", ""]),
        ("/a/", ["a", ""]),
    ])
    func tokensAreUnescapedOnceInOrder(pointer: String, tokens: [String]) throws {
        let parsed = try JSONPointer(parsing: pointer)
        #expect(parsed.tokens == tokens)
        #expect(parsed.description == pointer)
    }

    @Test(arguments: ["foo", "id", "#/foo", "/a~2b", "/a~", "/~", "/a~b"])
    func badSyntaxThrows(pointer: String) {
        #expect(throws: JSONPointer.SyntaxError.self) { try JSONPointer(parsing: pointer) }
    }

    @Test func resolvesIntoNestedObjectsAndArrays() throws {
        let user = JSONValue.object([
            "user": .object([
                "id": .integer(42),
                "roles": .array([.string("staff"), .object(["name": .string("admin")])]),
            ]),
        ])
        #expect(try JSONPointer(parsing: "/user/id").resolve(in: user) == .integer(42))
        #expect(try JSONPointer(parsing: "/user/roles/1/name").resolve(in: user) == .string("admin"))
        #expect(try JSONPointer(parsing: "/user/roles/0").resolve(in: user) == .string("staff"))
    }

    @Test(arguments: ["/nope", "/foo/2", "/foo/-", "/foo/01", "/foo/-1", "/foo/+1", "/foo/bar", "/foo/0/x", "/a~1b/x"])
    func missingValueIsNil(pointer: String) throws {
        #expect(try JSONPointer(parsing: pointer).resolve(in: Self.document) == nil)
    }

    @Test func nullIsAValueNotAMiss() throws {
        #expect(try JSONPointer(parsing: "/x").resolve(in: .object(["x": .null])) == .null)
    }
}
