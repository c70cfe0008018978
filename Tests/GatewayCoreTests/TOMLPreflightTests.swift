import Foundation
import Testing
@testable import GatewayCore

/// `TOMLPreflight` through `ConfigReader.parse`: the shapes on which toml++ (TOMLKit 0.6.0) would abort the
/// process are a `ConfigError` with a line; valid TOML, however tricky, reaches the parser.
struct TOMLPreflightTests {
    static func problems(_ text: String) -> [ConfigProblem] {
        do {
            _ = try ConfigReader(environment: [:]).parse(text, file: "gateway.conf")
            return []
        } catch {
            return error.problems
        }
    }

    /// Each shape with the line it is on; the comment names the toml++ assertion it would fail.
    @Test(arguments: [
        // parse_key (toml.hpp:15481): a table header without a key.
        ("[{", 1),
        ("[=", 1),
        ("[é]", 1),
        ("[[[a]]]", 1),
        ("a = 1\n[\nb = 2", 2),
        ("[ \t{a}]", 1),
        ("\u{FEFF}[=", 1),
        ("[[ .a]]", 1),
        // parse_value (toml.hpp:14994): a terminator where an array expects a value.
        ("a=[}", 1),
        ("a = [\n  1,\n  # }\n  }\n]", 4),
        ("a = [1, \u{2028}]", 1),
        ("a = [\u{85}]", 1),
        ("a = [\u{2029}]", 1),
        ("a = { b = [ } }", 1),
        // the date-time scan (toml.hpp:15080): a date, a space, one digit, a terminator.
        ("a = 1979-05-27 1\n", 1),
        ("a = 1979-05-27 7 # comment", 1),
        ("x = 1\na = [1979-05-27 0]", 2),
        ("a = { b = 1979-05-27 2}", 1),
        ("a = 1979-05-aa 1,", 1),
        // stepping back past the 127-character history (toml.hpp:13017): a date-like value with `_`.
        ("a = 2" + String(repeating: "_", count: 115) + "020-01-01 1x", 1),
        ("a = 2" + String(repeating: "_", count: 117) + "020-01-01 x", 1),
        ("a = 1_979-05-27 1", 1),  // short, so no assertion, but refused all the same
        // parse_time (toml.hpp:14790): a date-time without a digit after the `T`.
        ("a = 1979-05-27Tx:00", 1),
        ("\n\na = [1979-05-27t:]", 3),
        // A NUL: TOMLKit passes a C string, so toml++ would read only what comes before it.
        ("a = 1\u{0}\n[{", 1),
    ])
    func shapeThatWouldAbortTheParserIsAnInvalidTOMLError(text: String, line: Int) {
        let problems = Self.problems(text)
        #expect(problems.count == 1, "\(problems)")
        #expect(problems.first?.message.hasPrefix("invalid TOML: ") == true, "\(problems)")
        #expect(problems.first?.line == line, "\(problems)")
        #expect(problems.first?.file == "gateway.conf")
    }

    @Test func savedCrashInputsAreRefused() throws {
        let crashes = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fuzz/crashes")
        let names = try FileManager.default.contentsOfDirectory(atPath: crashes.path).filter { $0.hasPrefix("config-toml-") }
        #expect(names.count >= 2)
        for name in names {
            let text = try String(contentsOf: crashes.appendingPathComponent(name), encoding: .utf8)
            let problems = Self.problems(text)
            #expect(problems.count == 1 && problems[0].message.hasPrefix("invalid TOML: ") && problems[0].line == 1,
                    "\(name): \(problems)")
        }
    }

    @Test func messageNamesWhatIsWrong() {
        #expect(Self.problems("[{").map(\.description)
            == [#"gateway.conf: invalid TOML: a table header needs a key after "[", saw "{" (line 1)"#])
        #expect(Self.problems("a = [\n}").map(\.description)
            == [#"gateway.conf: invalid TOML: an array needs a value or "]" here, saw "}" (line 2)"#])
        #expect(Self.problems("[\n").map(\.description)
            == [#"gateway.conf: invalid TOML: a table header needs a key after "[", saw a line break (line 1)"#])
        #expect(Self.problems("a = [\u{2028}]").first?.message == "invalid TOML: an array needs a value or \"]\" here, saw U+2028")
    }

    /// Valid TOML whose brackets, quotes and dates sit where a shallower check would see the shapes above.
    @Test(arguments: [
        // Brackets and braces inside strings of all four kinds, and in comments.
        #"a = "[{"  # [{"# + "\n" + #"b = '}]'"#,
        "a = \"\"\"\n[{\n]}\n\"\"\"\nb = '''\n[=\n[[[\n'''",
        #"a = "quote \" [{ \\" "# + "\nb = 'C:\\dir\\'",
        "# [{\n  # a=[}\na = 1",
        // Multi-line strings ending in extra quotes, escaped quotes and line-ending backslashes.
        "a = \"\"\"one \"\" two \"\"\"\"\nb = '''x'''''\nc = \"\"\"\\\"\"\"\"\"\nd = \"\"\"\n  a \\\n  [{ \\\n  \"\"\"",
        "e = \"\"",  // an empty string at the very end
        // Nested arrays and inline tables, over lines, with comments and trailing commas.
        "a = [\n[1, 2],\n[{ b = 1 }], # [{\n{ c = [3, [4]] },\n]",
        "a = [ [ ], [[]], {}, { b = { c = [ { d = 1 } ] } } ]",
        "a = [\n  # only a comment\n]\nb = [\r\n  1,\r\n  2,\r\n]\r\n",
        // Quoted and dotted keys in headers and key/value lines.
        "\"a]b\" = 1\n[ \"x[\" . 'y{' ]\nc = 1\n[[ arr . b ]]\nd = 2\n[['q]']]\n",
        "a . b . \"c\" = 1\n'd' = { e . f = 2 }",
        // Dates, times and date-times, with a space or a T, bare and in arrays and inline tables.
        "a = 1979-05-27 07:32:00Z\nb = 1979-05-27T00:32:00.999999-07:00\nc = 1979-05-27\nd = 07:32:00",
        "a = [1979-05-27 , 1979-05-27 07:32:00, 1979-05-27t07:32:00]\nb = { c = 1979-05-27 }\nd = 1979-05-27 # c",
        "a = 1979-05-27 \nb = 1979-05-27\t# tab",
        // Numbers, booleans, special floats.
        "a = 1_000\nb = 6.626e-34\nc = 0xDEAD_BEEF\nd = -inf\ne = nan\nf = true\ng = [false, +1, -0.0, 0o17, 0b11]",
        // A byte order mark, tabs, an empty file and blank lines.
        "\u{FEFF}a = 1",
        "\t[t]\n\ta\t=\t1\t",
        "",
        "\n\n\n",
    ])
    func validTOMLIsNotRefused(text: String) {
        let invalid = Self.problems(text).filter { $0.message.hasPrefix("invalid TOML") }
        #expect(invalid.isEmpty, "\(invalid)")
        #expect(TOMLPreflight.refusal(in: text) == nil)
    }

    @Test func shippedGatewayConfIsNotRefused() throws {
        let path = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("gateway.conf")
        #expect(TOMLPreflight.refusal(in: try String(contentsOf: path, encoding: .utf8)) == nil)
    }

    /// Invalid TOML that does not reach an assertion is left to toml++, whose message is the better one.
    @Test(arguments: ["[ [a]]", "a = [,]", "a = [1 }", "[]", "a = 1979-05-27 1", "a = { b = 1, }"])
    func otherInvalidTOMLGetsTheParsersMessage(text: String) {
        #expect(TOMLPreflight.refusal(in: text) == nil)
        #expect(Self.problems(text).first?.message.hasPrefix("invalid TOML: ") == true)
    }
}
