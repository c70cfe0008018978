/// The request head a tunnel writes upstream itself (libcurl's connect-only mode sends nothing): the request line for
/// the URL's path and query, and the header lines read as curl reads CURLOPT_HTTPHEADER, so a tunnel's upstream sees
/// what an ordinary request's would (`Name:` with nothing after it only removes a header curl would have added;
/// `Name;` sends the header with an empty value).
enum UpgradeRequestHead {
    static func bytes(method: String, url: String, headerLines: HeaderLines) -> [UInt8] {
        var head: [UInt8] = []
        head.reserveCapacity(headerLines.packed.count + url.utf8.count + 64)
        head.append(contentsOf: method.utf8)
        head.append(UInt8(ascii: " "))
        head.append(contentsOf: target(of: url))
        head.append(contentsOf: " HTTP/1.1\r\n".utf8)
        for line in headerLines.packed.split(separator: 0) {
            if let colon = line.firstIndex(of: UInt8(ascii: ":")) {
                guard line[(colon + 1)...].contains(where: { !$0.isASCIIBlank }) else { continue }
                head.append(contentsOf: line)
            } else if line.last == UInt8(ascii: ";") {
                head.append(contentsOf: line.dropLast())
                head.append(UInt8(ascii: ":"))
            } else {
                continue
            }
            head.append(contentsOf: "\r\n".utf8)
        }
        head.append(contentsOf: "\r\n".utf8)
        return head
    }

    /// `http://host:port/base/path?query` → `/base/path?query` (the builder's URLs always have a path).
    static func target(of url: String) -> Substring.UTF8View {
        let bytes = url.utf8
        guard let scheme = url.range(of: "://") else { return url[...].utf8 }
        let authority = scheme.upperBound
        guard let slash = bytes[authority...].firstIndex(of: UInt8(ascii: "/")) else { return "/"[...].utf8 }
        return url[slash...].utf8
    }
}
