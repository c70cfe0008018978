import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// Where the refresh token is read from on the logout endpoint (Auth/TokenEndpoints.swift `refreshToken(in:body:)`,
/// docs/http.md#the-gateways-own-endpoints): a JSON body `{"refresh": "…"}` first, then the refresh cookie when `refresh_delivery` uses cookies.
/// Driven through the real endpoint with an in-memory store; which session is revoked shows which token was found.
///
/// Input: a config byte (delivery body/cookie/both, one of four cookie names), then lines. A line `B:…` is the
/// body; every other line is one Cookie header. `$1` `$2` `$3` stand for valid refresh tokens (sessions s1–s3),
/// `$E` for an expired one (sE), `$A` for an access token.
///
/// Model: a body that is not a JSON object is 400; a non-string `refresh` is token_not_valid; a string is the
/// token. Else (cookies in use) the first cookie-pair, over the headers in order, split on `;` and trimmed of
/// OWS, whose name is exactly the cookie name and whose value is not empty (RFC 6265 §4.2.1, §5.4). No token:
/// not_authenticated; a token that verifies (valid or expired) revokes its session (204); any other:
/// token_not_valid. For Cookie headers of ASCII bytes (all RFC 6265 allows) the outcome is exactly the model's;
/// with other bytes the gateway may miss a cookie, but a session it revokes is one a cookie-pair names.
enum CookieFuzz {
    final class RecordingStore: SessionStore {
        let revoked = NIOLockedValueBox<[String]>([])

        func create(_ session: Session) async throws {}
        func session(id: String) async throws -> Session? { nil }
        func replacement(ofRefreshJTI jti: String, sessionID: String) async throws -> RefreshReplacement? { nil }
        func update(sessionID: String, expecting expectation: SessionExpectation, change: SessionChange, now: UnixTime) async throws -> Bool { false }
        func revoke(sessionID: String, at now: UnixTime) async throws -> Bool {
            revoked.withLockedValue { $0.append(sessionID) }
            return true
        }
        func purge(endedBefore cutoff: UnixTime) async throws -> Int { 0 }
        func revokeAll(sessionsOfUserIn sessionID: String, at now: UnixTime) async throws -> [String] { [] }
        func revokedSince(_ since: UnixTime) async throws -> [(sessionID: String, revokedAt: UnixTime)] { [] }
        func sessions(of user: StoredUserIDs?, includeEnded: Bool, at now: UnixTime) async throws -> [Session] { [] }
        func revokeAll(sessionsOf user: StoredUserIDs, at now: UnixTime) async throws -> [String] { [] }
        func ping() async throws {}
        func close() async throws {}
    }

    static let store = RecordingStore()
    static let setup = TokenFuzz.setups[0]
    static let deliveries: [RefreshDelivery] = [.cookie, .both, .body]
    static let cookieNames = ["refresh", "rt", "__Host-refresh", "a.b-c_d"]

    static let endpoints: [TokenEndpoints] = deliveries.flatMap { delivery in
        cookieNames.map { name in
            var config = GatewayConfig()
            config.tokens = setup.tokens
            config.auth.refreshDelivery = delivery
            config.auth.cookieName = name
            return TokenEndpoints(config: config, store: store, issuer: setup.issuer, verifier: setup.verifier,
                                  revocations: RevocationList(tokens: setup.tokens),
                                  clock: .fixed(UnixTime(seconds: TokenFuzz.now)), logger: Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() }),
                                  checkCredentials: { _, _, _ in throw GatewayError.upstreamUnavailable })
        }
    }

    static let placeholders: [(String, String)] = {
        func subject(_ sid: String) -> TokenIssuer.Subject { .init(sessionID: sid, userID: .string("u-\(sid)"), claims: [:]) }
        let now = TokenFuzz.now
        return [
            ("$1", try! setup.issuer.refreshToken(for: subject("s1"), jti: "j1", issuedAt: now - 5, expiresAt: now + 600)),
            ("$2", try! setup.issuer.refreshToken(for: subject("s2"), jti: "j2", issuedAt: now - 5, expiresAt: now + 600)),
            ("$3", try! setup.issuer.refreshToken(for: subject("s3"), jti: "j3", issuedAt: now - 5, expiresAt: now + 600)),
            ("$E", try! setup.issuer.refreshToken(for: subject("sE"), jti: "jE", issuedAt: now - 900, expiresAt: now - 300)),
            ("$A", try! setup.issuer.accessToken(for: subject("sA"), jti: "jA", issuedAt: now - 5, expiresAt: now + 600)),
        ]
    }()

    static func expand(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        var i = bytes.startIndex
        while i < bytes.endIndex {
            if bytes[i] == UInt8(ascii: "$"), i + 1 < bytes.endIndex,
               let (_, token) = placeholders.first(where: { $0.0.utf8.last == bytes[i + 1] }) {
                out += token.utf8
                i += 2
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return out
    }

    enum Expected: Equatable {
        case failure(GatewayError)
        case revoked(String)
    }

    static func run(_ bytes: [UInt8]) {
        var reader = FuzzReader(bytes)
        let selector = Int(reader.byte())
        let endpointIndex = selector % endpoints.count
        let delivery = deliveries[endpointIndex / cookieNames.count]
        let cookieName = cookieNames[endpointIndex % cookieNames.count]

        var body: [UInt8]?
        var cookies: [String] = []
        for line in fuzzSplit(expand(reader.remaining()), on: 0x0A) {
            if line.starts(with: Array("B:".utf8)) {
                if body == nil { body = Array(line.dropFirst(2)) }
                continue
            }
            let value = fuzzTrimOWS(line[...])
            guard !value.contains(where: { $0 == 0 || $0 == 0x0D }) else { continue }
            cookies.append(String(decoding: value, as: UTF8.self))
        }

        // The model: body first, then cookies.
        var presented: String?
        var decided: Expected?
        if let body, !body.isEmpty {
            if case .object(let object)? = JSONValue.parse(body) {
                if let value = object["refresh"] {
                    if case .string(let token) = value { presented = token } else { decided = .failure(.refreshTokenNotValid(.invalid)) }
                }
            } else {
                decided = .failure(.badRequest)
            }
        }
        let fromBody = presented != nil || decided != nil
        let pairs = cookiePairs(cookies, named: cookieName)
        if !fromBody && delivery.usesCookie { presented = pairs.first { !$0.isEmpty } }
        let expected = decided ?? outcome(of: presented)

        var headers = HTTPHeaders()
        for (i, cookie) in cookies.enumerated() { headers.add(name: i % 2 == 0 ? "Cookie" : "cookie", value: cookie) }
        let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/auth/logout", headers: headers)
        store.revoked.withLockedValue { $0.removeAll() }
        let got: Expected
        do {
            let endpoint = endpoints[endpointIndex], requestBody = ByteBuffer(bytes: body ?? [])
            let outcome = fuzzBlocking { () async -> Result<LocalResponse, any Error> in
                do { return .success(try await endpoint.logout(head, body: requestBody)) } catch { return .failure(error) }
            }
            let response = try outcome.get()
            let revoked = store.revoked.withLockedValue { $0 }
            fuzzCheck(response.status == .noContent && revoked.count == 1, "logout answered \(response.status), revoking \(revoked)")
            fuzzCheck(response.headers["set-cookie"].count == (delivery.usesCookie ? 1 : 0), "logout's Set-Cookie: \(response.headers["set-cookie"])")
            got = .revoked(revoked[0])
        } catch let error as GatewayError {
            got = .failure(error)
        } catch {
            fuzzCheck(false, "logout failed with \(error)")
            return
        }

        let asciiCookies = cookies.allSatisfy { $0.utf8.allSatisfy { $0 < 0x80 } }
        if fromBody || !delivery.usesCookie || asciiCookies {
            fuzzCheck(got == expected, "logout with body \(String(describing: body.map { String(decoding: $0, as: UTF8.self) })), cookies \(cookies) (\(delivery), name \(cookieName)) gave \(got), the model \(expected)")
        } else if case .revoked(let sid) = got {
            let named = pairs.compactMap { outcome(of: $0) == .revoked(sid) ? sid : nil }
            fuzzCheck(!named.isEmpty, "logout revoked \(sid), but no \(cookieName) cookie-pair in \(cookies) names it")
        } else {
            fuzzCheck(got == .failure(.notAuthenticated) || got == .failure(.accessTokenNotValid(.invalid)), "logout gave \(got) for cookies \(cookies)")
        }
    }

    /// Values of the cookie-pairs named `name`, in order (RFC 6265 §4.2.1, over bytes).
    static func cookiePairs(_ headers: [String], named name: String) -> [String] {
        var values: [String] = []
        for header in headers {
            for pair in fuzzSplit(header.utf8, on: UInt8(ascii: ";")) {
                let trimmed = fuzzTrimOWS(pair[...])
                guard let eq = trimmed.firstIndex(of: UInt8(ascii: "=")), trimmed[..<eq].elementsEqual(name.utf8) else { continue }
                values.append(String(decoding: trimmed[(eq + 1)...], as: UTF8.self))
            }
        }
        return values
    }

    static func outcome(of token: String?) -> Expected {
        guard let token else { return .failure(.notAuthenticated) }
        switch setup.verifier.verify(Substring(token), as: .refresh, atSecond: TokenFuzz.now) {
        case .valid(let claims), .expired(let claims):
            return claims.sessionID.map(Expected.revoked) ?? .failure(.accessTokenNotValid(.invalid))
        case .invalid:
            return .failure(.accessTokenNotValid(.invalid))
        }
    }
}
