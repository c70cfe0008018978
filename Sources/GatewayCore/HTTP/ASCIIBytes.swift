import Glibc

/// Byte-level ASCII helpers for header names and values: compared without lower-cased copies or hashing
/// (the hot path: every header of every request and response).
extension UInt8 {
    var asciiLowercased: UInt8 {
        self >= UInt8(ascii: "A") && self <= UInt8(ascii: "Z") ? self | 0x20 : self
    }

    var isASCIIBlank: Bool { self == UInt8(ascii: " ") || self == UInt8(ascii: "\t") }
}

extension Collection<UInt8> {
    /// ASCII case-insensitive equality with `lowercased`, which must be lower case already.
    func equalsASCIIIgnoringCase(_ lowercased: StaticString) -> Bool {
        count == lowercased.utf8CodeUnitCount && hasASCIIPrefixIgnoringCase(lowercased)
    }

    func hasASCIIPrefixIgnoringCase(_ lowercased: StaticString) -> Bool {
        let pattern = UnsafeBufferPointer(start: lowercased.utf8Start, count: lowercased.utf8CodeUnitCount)
        return count >= pattern.count && zip(self, pattern).allSatisfy { $0.asciiLowercased == $1 }
    }

    /// ASCII case-insensitive equality with `lowercased`, which must be lower case already.
    func equalsASCIIIgnoringCase(string lowercased: String) -> Bool {
        count == lowercased.utf8.count && zip(self, lowercased.utf8).allSatisfy { $0.asciiLowercased == $1 }
    }
}

extension Substring.UTF8View {
    /// Whether these bytes begin with `prefix`'s bytes: routing compares bytes, never Unicode equivalence.
    func hasBytePrefix(_ prefix: String.UTF8View) -> Bool {
        let length = prefix.count
        guard count >= length else { return false }
        if length == 0 { return true }
        let compared = withContiguousStorageIfAvailable { mine in
            prefix.withContiguousStorageIfAvailable { theirs in memcmp(mine.baseAddress!, theirs.baseAddress!, length) == 0 }
        }
        return (compared ?? nil) ?? starts(with: prefix)
    }
}
