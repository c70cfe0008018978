/// The request-target normaliser (Routing/RequestTarget.swift, docs/http.md#forwarding) on any string.
///
/// Accepted targets: the path starts with `/`, holds no dot segment (`.`/`..`), no `?`, and none of the bytes the
/// parser refuses (controls, SP, DEL, `#`, `\`); the query holds none of those either. Normalising is
/// idempotent. Accepted or refused as a model says: origin-form, or absolute-form with an http(s) scheme; the
/// path is RFC 3986 §5.2.4 `remove_dot_segments` (the literal A–E algorithm of the RFC, written here apart from
/// the code under test), refused for climbing exactly when that algorithm would remove a segment from an empty
/// output; the query is the target's, byte for byte.
enum RequestTargetFuzz {
    static func run(_ bytes: [UInt8]) {
        let uri = String(decoding: bytes, as: UTF8.self)
        let target: RequestTarget
        do {
            target = try RequestTarget(parsing: uri)
        } catch {
            fuzzCheck(error == .badRequest, "\(uri.debugDescription) threw \(error)")
            if case .accepted(let path, _) = model(Array(uri.utf8)) {
                fuzzCheck(false, "\(uri.debugDescription) refused; the model normalises it to \(String(decoding: path, as: UTF8.self).debugDescription)")
            }
            return
        }
        let path = Array(target.path.utf8)
        fuzzCheck(path.first == UInt8(ascii: "/"), "path \(target.path.debugDescription) of \(uri.debugDescription) does not start with /")
        let segments = fuzzSplit(path.dropFirst(), on: UInt8(ascii: "/"))
        fuzzCheck(!segments.contains([UInt8(ascii: ".")]) && !segments.contains([UInt8(ascii: "."), UInt8(ascii: ".")]),
                  "path \(target.path.debugDescription) of \(uri.debugDescription) keeps a dot segment")
        fuzzCheck(!path.contains(where: { isRefused($0) || $0 == UInt8(ascii: "?") }),
                  "path \(target.path.debugDescription) of \(uri.debugDescription) holds a byte the parser refuses")
        if let query = target.query {
            fuzzCheck(!query.utf8.contains(where: isRefused), "query \(query.debugDescription) of \(uri.debugDescription) holds a refused byte")
        }

        // Idempotent: the normalised path is its own normal form.
        let again = try? RequestTarget(parsing: String(target.path))
        fuzzCheck(again?.path == target.path && again?.query == nil,
                  "normalising \(target.path.debugDescription) again gave \(String(describing: again))")

        switch model(Array(uri.utf8)) {
        case .accepted(let expectedPath, let expectedQuery):
            fuzzCheck(target.query.map { Array($0.utf8) } == expectedQuery.map(Array.init),
                      "query of \(uri.debugDescription) is \(String(describing: target.query)), not the target's")
            fuzzCheck(expectedPath == path, "path of \(uri.debugDescription) is \(target.path.debugDescription); RFC 3986 gives \(String(decoding: expectedPath, as: UTF8.self).debugDescription)")
        case .refused:
            fuzzCheck(false, "\(uri.debugDescription) accepted as \(target.path.debugDescription), the model refuses it")
        case .notModelled:
            break
        }
    }

    enum Expected {
        case accepted(path: [UInt8], query: ArraySlice<UInt8>?)
        case refused
        /// An absolute-form target with non-ASCII bytes after the scheme (no valid authority has them).
        case notModelled
    }

    /// origin-form `/path?query`, or absolute-form `http(s)://authority/path?query` (scheme in any case) whose
    /// path and query are taken as an origin-form target (`/` when the path is empty).
    static func model(_ input: [UInt8]) -> Expected {
        var rest = input[...]
        if input.first != UInt8(ascii: "/") {
            guard let separator = input.firstRange(of: Array("://".utf8)) else { return .refused }
            let scheme = fuzzASCIILowercased(input[..<separator.lowerBound])
            guard scheme == Array("http".utf8) || scheme == Array("https".utf8) else { return .refused }
            let afterScheme = input[separator.upperBound...]
            guard afterScheme.allSatisfy({ $0 < 0x80 }) else { return .notModelled }
            guard let pathStart = afterScheme.firstIndex(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") }) else {
                return .accepted(path: Array("/".utf8), query: nil)
            }
            rest = afterScheme[pathStart...]
            if rest.first == UInt8(ascii: "?") { rest = (Array("/".utf8) + rest)[...] }
        }
        guard !rest.contains(where: isRefused) else { return .refused }
        let (rawPath, rawQuery) = splitQuery(Array(rest))
        guard let path = removeDotSegments(Array(rawPath)) else { return .refused }
        return .accepted(path: path, query: rawQuery)
    }

    static func isRefused(_ byte: UInt8) -> Bool {
        byte <= 0x20 || byte == 0x7F || byte == UInt8(ascii: "#") || byte == UInt8(ascii: "\\")
    }

    static func splitQuery(_ bytes: [UInt8]) -> (ArraySlice<UInt8>, ArraySlice<UInt8>?) {
        guard let q = bytes.firstIndex(of: UInt8(ascii: "?")) else { return (bytes[...], nil) }
        return (bytes[..<q], bytes[(q + 1)...])
    }

    /// RFC 3986 §5.2.4 as written there (rules A–E over an input and an output buffer); nil when rule C or D
    /// would remove a segment from an empty output (the path climbs above `/`).
    static func removeDotSegments(_ path: [UInt8]) -> [UInt8]? {
        var input = path[...]
        var output: [UInt8] = []
        func starts(_ prefix: String) -> Bool { input.starts(with: prefix.utf8) }
        func isExactly(_ text: String) -> Bool { input.elementsEqual(text.utf8) }
        func removeLastSegment() -> Bool {
            guard !output.isEmpty else { return false }
            if let slash = output.lastIndex(of: UInt8(ascii: "/")) { output.removeSubrange(slash...) } else { output.removeAll() }
            return true
        }
        while !input.isEmpty {
            if starts("../") {
                input = input.dropFirst(3)
            } else if starts("./") {
                input = input.dropFirst(2)
            } else if starts("/./") {
                input = input.dropFirst(2)
            } else if isExactly("/.") {
                input = [UInt8(ascii: "/")][...]
            } else if starts("/../") {
                input = input.dropFirst(3)
                guard removeLastSegment() else { return nil }
            } else if isExactly("/..") {
                input = [UInt8(ascii: "/")][...]
                guard removeLastSegment() else { return nil }
            } else if isExactly(".") || isExactly("..") {
                input = [][...]
            } else {
                // E: the first segment, with its leading "/" if any, up to the next "/".
                let start = input.first == UInt8(ascii: "/") ? input.index(after: input.startIndex) : input.startIndex
                let end = input[start...].firstIndex(of: UInt8(ascii: "/")) ?? input.endIndex
                output += input[..<end]
                input = input[end...]
            }
        }
        return output
    }
}
