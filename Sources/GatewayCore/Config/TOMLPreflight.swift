/// Finds the malformed TOML shapes that make toml++ abort the process instead of reporting a parse error,
/// so `ConfigReader` can refuse them before `TOMLTable(string:)` sees the text.
///
/// TOMLKit 0.6.0 embeds toml++ 3.4.0 (`Sources/CTOML/Sources/toml.hpp`), and SwiftPM compiles it without
/// `NDEBUG`: every `TOML_ASSERT` / `TOML_ASSERT_ASSUME` of its parser is a live `assert`, so a failed one kills
/// `gateway check` with SIGABRT (exit 134) and would kill a running gateway on reload. Of the parser's
/// assertions, these fail on input text (the others follow from checks the parser makes just before them);
/// the shapes refused here contain them, and every one of them is invalid TOML, so no valid file is refused:
///
/// - `[` / `[[` of a table header, then spaces, then something other than a key or `]`: `parse_key`
///   (toml.hpp:15481).
/// - Where an array expects a value, `}` or U+0085/U+2028/U+2029 (the parser skips other whitespace and
///   comments, and errors on `,`): `parse_value` (toml.hpp:14994).
/// - A value that looks like a date (10 characters besides `_`, `-` 5th and 8th), a space, a digit, then a
///   value terminator: the parser reads on for a date-time and asserts on that terminator (toml.hpp:15080).
/// - The same date-like value padded with `_` to 125 characters or more, then a space: the parser's look-ahead
///   outruns its history of 127 code points, and stepping back asserts (toml.hpp:13017). Any `_` in a
///   date-like value before a space is refused: a date has none.
/// - A date, then `T`, then something other than a digit, where the value's characters make the parser take
///   it for a date-time (it needs a `:`): `parse_time` asserts a digit (toml.hpp:14790).
/// - A NUL character: TOMLKit hands toml++ a C string, so the parser would see only the text before it
///   (no assertion, but everything after it would be ignored, and these checks would look at other text).
///
/// The scan follows the parser's lexical states (document, table header, keys, the four kinds of strings,
/// arrays, inline tables, bare values) exactly as far as the text is valid; where the parser is sure to
/// report an error first, the scan stops and leaves the message to it.
struct TOMLPreflight {
    /// A shape the parser would abort on: its line (1-based, counting LF as toml++ does) and what is wrong.
    struct Refusal: Equatable, Sendable {
        let line: Int
        let reason: String
    }

    /// `nil` when toml++ can be given `text`: it parses it or reports an error, without aborting.
    static func refusal(in text: String) -> Refusal? {
        var scan = Scan(Array(text.unicodeScalars))
        guard case .refused(let position, let reason) = scan.document() else { return nil }
        let line = scan.text[..<position].reduce(1) { $1 == "\n" ? $0 + 1 : $0 }
        return Refusal(line: line, reason: reason)
    }
}

/// How a part of the scan ended: go on, stop because the parser reports an error here (nothing it would
/// abort on can come later), or refuse.
private enum Step: Equatable {
    case next
    case parserReportsError
    case refused(at: Int, String)
}

/// A cursor over the text's Unicode scalars (toml++ decodes UTF-8 and reads code points, toml.hpp:12685).
private struct Scan {
    let text: [Unicode.Scalar]
    var i = 0

    init(_ text: [Unicode.Scalar]) {
        self.text = text
    }

    var atEnd: Bool { i >= text.count }
    var current: Unicode.Scalar? { i < text.count ? text[i] : nil }

    func scalar(at index: Int) -> Unicode.Scalar? { index < text.count ? text[index] : nil }

    /// `parse_document` (toml.hpp:15897): blank lines, comments, table headers and key/value lines.
    mutating func document() -> Step {
        if let nul = text.firstIndex(of: "\0") {
            return .refused(at: nul, "a NUL character (toml++ would read only the text before it)")
        }
        // The byte order mark is skipped before parsing (toml.hpp:12512).
        if current == "\u{FEFF}" { i += 1 }
        while let c = current {
            switch c {
            case " ", "\t", "\n":
                i += 1
            case "\r":
                guard scalar(at: i + 1) == "\n" else { return .parserReportsError }
                i += 2
            case "#":
                skipComment()
            case "[":
                let step = tableHeader()
                guard step == .next else { return step }
            default:
                guard TOMLCharacters.isBareKey(c) || TOMLCharacters.isQuote(c), keyUpToValue() else {
                    return .parserReportsError
                }
                let step = value()
                guard step == .next else { return step }
                guard endOfLine() else { return .parserReportsError }
            }
        }
        return .next
    }

    /// `parse_table_header` (toml.hpp:15560).
    mutating func tableHeader() -> Step {
        i += 1
        let hadBlank = skipBlanks()
        guard hadBlank != nil, let afterBracket = current else { return .parserReportsError }
        var isArray = false
        if afterBracket == "[" {
            guard hadBlank == false else { return .parserReportsError }  // "[ [" is refused by the parser
            isArray = true
            i += 1
            guard skipBlanks() != nil, !atEnd else { return .parserReportsError }
        }
        guard let first = current, first != "]" else { return .parserReportsError }
        // The parser checks for `]` and the end, then calls parse_key, which asserts that a key starts here
        // (toml.hpp:15481) instead of reporting it: `[{`, `[=`, `[é`, `[[[`, `[` at the end of a line.
        guard TOMLCharacters.isBareKey(first) || TOMLCharacters.isQuote(first) else {
            return .refused(at: i, "a table header needs a key after \"[\", saw \(TOMLCharacters.described(first))")
        }
        guard key() else { return .parserReportsError }
        guard skipBlanks() != nil, current == "]" else { return .parserReportsError }
        i += 1
        if isArray {
            guard current == "]" else { return .parserReportsError }
            i += 1
        }
        return endOfLine() ? .next : .parserReportsError
    }

    /// A key, `=` and blanks, up to where the value starts (`parse_key_value_pair_and_insert`, toml.hpp:15784).
    /// False where the parser reports an error (no `=`, nothing that can start a value).
    mutating func keyUpToValue() -> Bool {
        guard key(), skipBlanks() != nil, current == "=" else { return false }
        i += 1
        guard skipBlanks() != nil, let c = current else { return false }
        return !TOMLCharacters.isValueTerminator(c)
    }

    /// `parse_key` (toml.hpp:15477): dotted segments, bare or quoted (single-line strings), blanks around dots.
    /// The caller has seen the first segment start. False when the parser reports an error.
    mutating func key() -> Bool {
        while let c = current {
            if TOMLCharacters.isBareKey(c) {
                while let k = current, TOMLCharacters.isBareKey(k) { i += 1 }
            } else if TOMLCharacters.isQuote(c) {
                guard let multiLine = string(), !multiLine else { return false }
            } else {
                return false
            }
            guard skipBlanks() != nil else { return false }
            guard current == "." else { return true }
            i += 1
            guard skipBlanks() != nil, !atEnd else { return false }
        }
        return false
    }

    /// One value, with the arrays and inline tables nested in it; `parse_value` (toml.hpp:14988),
    /// `parse_array` (:16014) and `parse_inline_table` (:16083), with an explicit stack instead of recursion.
    mutating func value() -> Step {
        var open: [Container] = []
        var atValue = true
        while true {
            if atValue {
                atValue = false
                switch current {
                case "[":
                    i += 1
                    open.append(.array(afterValue: false))
                case "{":
                    i += 1
                    open.append(.inlineTable(.start))
                case "\"", "'":
                    guard string() != nil else { return .parserReportsError }
                default:
                    let step = bareValue()
                    guard step == .next else { return step }
                }
            }
            guard let container = open.last else { return .next }
            switch container {
            case .array(let afterValue):
                guard skipArrayBlanks(), let c = current else { return .parserReportsError }
                if c == "]" {
                    i += 1
                    open.removeLast()
                } else if c == "," {
                    guard afterValue else { return .parserReportsError }
                    i += 1
                    open[open.count - 1] = .array(afterValue: false)
                } else {
                    guard !afterValue else { return .parserReportsError }
                    // Whitespace, comments, `]` and `,` are handled above; the value terminators left reach
                    // parse_value, which asserts there is none (toml.hpp:14994) instead of reporting it.
                    if TOMLCharacters.isValueTerminator(c) {
                        return .refused(at: i, "an array needs a value or \"]\" here, saw \(TOMLCharacters.described(c))")
                    }
                    open[open.count - 1] = .array(afterValue: true)
                    atValue = true
                }
            case .inlineTable(let last):
                // TOML 1.0: no line breaks or comments inside inline tables (toml.hpp:16106).
                guard skipBlanks() != nil, let c = current else { return .parserReportsError }
                if c == "}" {
                    guard last != .comma else { return .parserReportsError }
                    i += 1
                    open.removeLast()
                } else if c == "," {
                    guard last == .keyValue else { return .parserReportsError }
                    i += 1
                    open[open.count - 1] = .inlineTable(.comma)
                } else if last != .keyValue && (TOMLCharacters.isBareKey(c) || TOMLCharacters.isQuote(c)) {
                    guard keyUpToValue() else { return .parserReportsError }
                    open[open.count - 1] = .inlineTable(.keyValue)
                    atValue = true
                } else {
                    return .parserReportsError
                }
            }
        }
    }

    private enum Container: Equatable {
        case array(afterValue: Bool)
        case inlineTable(InlineTableItem)
    }

    private enum InlineTableItem: Equatable {
        case start, comma, keyValue
    }

    /// A value that is not a string, array or inline table: a number, boolean, date or time. The parser scans
    /// it up to a value terminator to guess its type (toml.hpp:15066), then parses it from its start.
    mutating func bareValue() -> Step {
        let start = i
        var end = i
        while end < text.count, !TOMLCharacters.isValueTerminator(text[end]) { end += 1 }
        i = end
        guard TOMLCharacters.isDigit(text[start]) else { return .next }

        // "1979-05-27T" then a non-digit: when the value's other characters (a `:`) make the parser take it
        // for a date-time, parse_date_time reads the date and the `T`, and parse_time asserts a digit
        // (toml.hpp:14790). A date then `T` is a date-time in valid TOML, which needs the digit.
        if isDate(at: start), end > start + 10, text[start + 10] == "T" || text[start + 10] == "t",
           !(scalar(at: start + 11).map(TOMLCharacters.isDigit) ?? false) {
            return .refused(at: start, "a date and \"T\" need a time after them")
        }

        // A date-like value followed by a space may be a date-time with a space for the `T`: the parser reads
        // on past the space and one digit (toml.hpp:15154).
        guard looksLikeDate(text[start..<end]), scalar(at: end) == " " else { return .next }
        if text[start..<end].contains("_") {
            // Each `_` is one more code point of look-ahead; from a value of 125 on, the parser steps back further
            // than it remembers (toml.hpp:13017). A date never has `_`.
            return .refused(at: start, "\"_\" in a date")
        }
        guard let digit = scalar(at: end + 1), TOMLCharacters.isDigit(digit) else { return .next }
        // Having read the digit, the parser scans on and asserts it is not at a value terminator
        // (toml.hpp:15080): "1979-05-27 1" then a line break. A time has two digits.
        if let after = scalar(at: end + 2), TOMLCharacters.isValueTerminator(after) {
            return .refused(at: start, "a date followed by a space and one digit (\"1979-05-27 1\") is neither a date nor a date-time")
        }
        i = end + 2
        while let c = current, !TOMLCharacters.isValueTerminator(c) { i += 1 }
        return .next
    }

    /// `YYYY-MM-DD` in digits at `index`, as parse_date reads it (toml.hpp:14740).
    func isDate(at index: Int) -> Bool {
        guard index + 10 <= text.count else { return false }
        return (0..<10).allSatisfy { k in
            k == 4 || k == 7 ? text[index + k] == "-" : TOMLCharacters.isDigit(text[index + k])
        }
    }

    /// What makes the parser read on for a date-time (toml.hpp:15154): 10 characters besides `_`, the 5th and
    /// 8th `-`. (The parser also wants no `+`, `.`, `:`, `T` or `Z` among them; leaving that out refuses a few
    /// more values that are no more valid.)
    func looksLikeDate(_ value: ArraySlice<Unicode.Scalar>) -> Bool {
        let characters = value.filter { $0 != "_" }
        return characters.count == 10 && characters[4] == "-" && characters[7] == "-"
    }

    /// A string of any of the four kinds, from its opening quote (`parse_string`, toml.hpp:14126): whether it was
    /// multi-line, or `nil` when the parser reports an error (an unterminated string, a line break in a
    /// single-line one).
    mutating func string() -> Bool? {
        let quote = text[i]
        let multiLine = scalar(at: i + 1) == quote && scalar(at: i + 2) == quote
        i += multiLine ? 3 : 1
        while let c = current {
            if c == "\\" && quote == "\"" {
                i += 2  // an escape: the scalar after the backslash never ends the string
            } else if c == quote {
                guard multiLine else {
                    i += 1
                    return false
                }
                var run = 0
                while scalar(at: i + run) == quote { run += 1 }
                // Up to five quotes are read together: three close the string, one or two more belong to it
                // (toml.hpp:13914).
                i += min(run, 5)
                if run >= 3 { return true }
            } else if c == "\n" && !multiLine {
                return nil
            } else {
                i += 1
            }
        }
        return nil
    }

    /// A comment up to (not including) its line break.
    mutating func skipComment() {
        while let c = current, c != "\n" { i += 1 }
    }

    /// `consume_leading_whitespace` (toml.hpp:13653): spaces and tabs. Whether there were any, or `nil` where the
    /// parser reports other Unicode horizontal whitespace.
    mutating func skipBlanks() -> Bool? {
        let start = i
        while let c = current {
            if c == " " || c == "\t" {
                i += 1
            } else if TOMLCharacters.isHorizontalWhitespace(c) {
                return nil
            } else {
                break
            }
        }
        return i > start
    }

    /// What an array skips between its items (toml.hpp:16036): blanks, line breaks, comments. False where the
    /// parser reports an error (other Unicode horizontal whitespace, a CR without LF, VT, FF).
    mutating func skipArrayBlanks() -> Bool {
        while true {
            guard skipBlanks() != nil else { return false }
            switch current {
            case "\n":
                i += 1
            case "\r":
                guard scalar(at: i + 1) == "\n" else { return false }
                i += 2
            case "\u{0B}", "\u{0C}":
                return false
            case "#":
                skipComment()
            default:
                return true
            }
        }
    }

    /// After a table header or a key/value line: blanks, then a comment, a line break or the end
    /// (toml.hpp:15666, :15926). False where the parser reports anything else.
    mutating func endOfLine() -> Bool {
        guard skipBlanks() != nil else { return false }
        switch current {
        case nil, "\n", "#":
            return true
        case "\r":
            return scalar(at: i + 1) == "\n"
        default:
            return false
        }
    }
}

/// The character classes of toml++ (toml.hpp:8655–8945), TOML 1.0 without the unreleased features (the
/// default TOMLKit builds with).
private enum TOMLCharacters {
    static func isDigit(_ c: Unicode.Scalar) -> Bool { c >= "0" && c <= "9" }

    static func isQuote(_ c: Unicode.Scalar) -> Bool { c == "\"" || c == "'" }

    /// A-Z, a-z, 0-9, `_`, `-`: TOML 1.0 bare keys are ASCII.
    static func isBareKey(_ c: Unicode.Scalar) -> Bool {
        (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || isDigit(c) || c == "_" || c == "-"
    }

    /// Space, tab and the Unicode horizontal whitespace toml++ knows (it refuses all but space and tab).
    static func isHorizontalWhitespace(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x09, 0x20, 0xA0, 0x1680, 0x180E, 0x2000...0x200B, 0x202F, 0x205F, 0x2060, 0x3000, 0xFEFF: true
        default: false
        }
    }

    /// LF, VT, FF, CR and U+0085, U+2028, U+2029.
    static func isVerticalWhitespace(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x0A...0x0D, 0x85, 0x2028, 0x2029: true
        default: false
        }
    }

    /// Where a bare value ends (`is_value_terminator`).
    static func isValueTerminator(_ c: Unicode.Scalar) -> Bool {
        isHorizontalWhitespace(c) || isVerticalWhitespace(c) || c == "]" || c == "}" || c == "," || c == "#"
    }

    /// The character as a message shows it: quoted when printable ASCII, else named or as U+XXXX.
    static func described(_ c: Unicode.Scalar) -> String {
        switch c {
        case "\n": return "a line break"
        case "\r": return "a carriage return"
        case "\t": return "a tab"
        case " "..."~": return "\"\(c)\""
        default:
            let hex = String(c.value, radix: 16, uppercase: true)
            return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
        }
    }
}
