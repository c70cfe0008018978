import CCurl
import Foundation

/// Options and callbacks of a (reused) easy handle for one transfer.
enum CurlEasy {
    /// A reusable easy handle and the header list storage its transfers lay their headers out in.
    struct Handle {
        let easy: UnsafeMutableRawPointer
        let headerList = CurlHeaderList()

        /// A new handle with every option its transfers share.
        init() {
            easy = curl_easy_init()!
            CurlEasy.prepare(easy)
        }
    }

    /// Options every transfer shares, set once when the handle is created (handles are reused).
    private static func prepare(_ easy: UnsafeMutableRawPointer) {
        _ = cg_easy_setopt_long(easy, CURLOPT_NOSIGNAL, 1)
        // Forward the path byte for byte: no dot-segment squashing by curl.
        _ = cg_easy_setopt_long(easy, CURLOPT_PATH_AS_IS, 1)
        _ = cg_easy_setopt_long(easy, CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_1_1))
        _ = cg_easy_setopt_long(easy, CURLOPT_TCP_NODELAY, 1)
        // 64 KiB each way: every pooled handle keeps its buffers, so their size times the peak number of
        // transfers is resident memory (scripts/soak, 360 connections: 256 KiB buffers plateaued near 120 MiB,
        // 64 KiB near 85 MiB).
        _ = cg_easy_setopt_long(easy, CURLOPT_BUFFERSIZE, 64 * 1024)
        _ = cg_easy_setopt_long(easy, CURLOPT_UPLOAD_BUFFERSIZE, 64 * 1024)
        _ = cg_easy_setopt_long(easy, CURLOPT_FOLLOWLOCATION, 0)
        // Never take a proxy from the environment (HTTP_PROXY & co.): upstream traffic goes where the
        // config says, and libcurl skips its per-transfer environment lookups.
        _ = "".withCString { cg_easy_setopt_string(easy, CURLOPT_PROXY, $0) }
        // https targets are verified against the system's CAs, or the bundle named like curl's own tools
        // do (CURL_CA_BUNDLE, then SSL_CERT_FILE): how a private CA is trusted without a config key.
        if let bundle = caBundle {
            _ = bundle.withCString { cg_easy_setopt_string(easy, CURLOPT_CAINFO, $0) }
        }
        _ = cg_easy_setopt_data_callback(easy, CURLOPT_HEADERFUNCTION) { data, size, count, userdata in
            let transfer = Unmanaged<CurlTransfer>.fromOpaque(userdata!).takeUnretainedValue()
            let n = size * count
            let keep = transfer.receivedHeaderLine(UnsafeRawBufferPointer(start: data, count: n))
            transfer.loop.markTouched(transfer)
            return keep ? n : 0
        }
        _ = cg_easy_setopt_data_callback(easy, CURLOPT_WRITEFUNCTION) { data, size, count, userdata in
            let transfer = Unmanaged<CurlTransfer>.fromOpaque(userdata!).takeUnretainedValue()
            let taken = transfer.receivedBody(UnsafeRawBufferPointer(start: data, count: size * count))
            transfer.loop.markTouched(transfer)
            return taken
        }
        _ = cg_easy_setopt_data_callback(easy, CURLOPT_READFUNCTION) { data, size, count, userdata in
            let transfer = Unmanaged<CurlTransfer>.fromOpaque(userdata!).takeUnretainedValue()
            return transfer.fillRequestBody(UnsafeMutableRawBufferPointer(start: data, count: size * count))
        }
    }

    static let caBundle: String? = {
        let environment = ProcessInfo.processInfo.environment
        return [environment["CURL_CA_BUNDLE"], environment["SSL_CERT_FILE"]].compactMap { $0 }.first { !$0.isEmpty }
    }()

    /// The per-request options.
    static func configure(_ handle: Handle, for transfer: CurlTransfer) {
        let easy = handle.easy
        let request = transfer.request
        let context = Unmanaged.passUnretained(transfer).toOpaque()
        _ = cg_easy_setopt_pointer(easy, CURLOPT_PRIVATE, context)
        _ = cg_easy_setopt_pointer(easy, CURLOPT_HEADERDATA, context)
        _ = cg_easy_setopt_pointer(easy, CURLOPT_WRITEDATA, context)
        _ = cg_easy_setopt_pointer(easy, CURLOPT_READDATA, context)
        setURL(easy, transfer.currentURL)
        _ = cg_easy_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, max(1, request.connectTimeout.milliseconds))

        switch request.method {
        case "GET": _ = cg_easy_setopt_long(easy, CURLOPT_HTTPGET, 1)
        case "HEAD": _ = cg_easy_setopt_long(easy, CURLOPT_NOBODY, 1)
        default: break
        }
        switch request.body {
        case .none:
            break
        case .length(let n):
            _ = cg_easy_setopt_long(easy, CURLOPT_UPLOAD, 1)
            _ = cg_easy_setopt_off(easy, CURLOPT_INFILESIZE_LARGE, curl_off_t(n))
        case .streamed:
            _ = cg_easy_setopt_long(easy, CURLOPT_UPLOAD, 1)
        }
        if request.method != "GET" && request.method != "HEAD" || request.body != .none {
            request.method.withCString { _ = cg_easy_setopt_string(easy, CURLOPT_CUSTOMREQUEST, $0) }
        }
        _ = cg_easy_setopt_slist(easy, CURLOPT_HTTPHEADER, handle.headerList.layOut(request.headerLines))
    }

    /// A tunnel's options (CurlLoop+Tunnels.swift): curl connects, TLS included (ALPN offers http/1.1 only, as the
    /// shared options ask), and sends nothing. Its handle is not reused: connect-only stays set for its life.
    static func configureTunnel(_ handle: Handle, for transfer: CurlTransfer) {
        let easy = handle.easy
        _ = cg_easy_setopt_pointer(easy, CURLOPT_PRIVATE, Unmanaged.passUnretained(transfer).toOpaque())
        _ = cg_easy_setopt_long(easy, CURLOPT_CONNECT_ONLY, 1)
        setURL(easy, transfer.currentURL)
        _ = cg_easy_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, max(1, transfer.request.connectTimeout.milliseconds))
    }

    /// Returns a finished handle to its shared state: undoes every per-request option.
    static func recycle(_ easy: UnsafeMutableRawPointer) {
        _ = cg_easy_setopt_pointer(easy, CURLOPT_CUSTOMREQUEST, nil)
        _ = cg_easy_setopt_long(easy, CURLOPT_UPLOAD, 0)
        _ = cg_easy_setopt_long(easy, CURLOPT_NOBODY, 0)
        _ = cg_easy_setopt_long(easy, CURLOPT_HTTPGET, 1)
        _ = cg_easy_setopt_off(easy, CURLOPT_INFILESIZE_LARGE, -1)
        _ = cg_easy_setopt_slist(easy, CURLOPT_HTTPHEADER, nil)
        _ = cg_easy_setopt_pointer(easy, CURLOPT_PRIVATE, nil)
    }

    static func setURL(_ easy: UnsafeMutableRawPointer, _ url: String) {
        _ = url.withCString { cg_easy_setopt_string(easy, CURLOPT_URL, $0) }
    }

    /// Failures where no connection was made, so nothing reached the upstream.
    static func isConnectFailure(_ code: CURLcode) -> Bool {
        code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST || code == CURLE_OPERATION_TIMEDOUT
    }

    static func describe(_ code: CURLcode) -> String {
        String(cString: curl_easy_strerror(code))
    }
}
