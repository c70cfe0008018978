/// One flow of Tests/browser/flows.py in headless Chromium (Debian's chromium and chromium-driver, selenium from
/// PyPI; scripts/setup --tests installs them), its JSON result decoded.
import Foundation
import Testing

enum BrowserFlow {
    static let chromium = "/usr/bin/chromium"
    static let chromedriver = "/usr/bin/chromedriver"

    /// scripts/test sets AUTH_GATEWAY_REQUIRE_BROWSER=1: there a missing browser is a failure, not a skip.
    static var isRequired: Bool { ProcessInfo.processInfo.environment["AUTH_GATEWAY_REQUIRE_BROWSER"] == "1" }

    static var isInstalled: Bool {
        FileManager.default.isExecutableFile(atPath: chromium) && FileManager.default.isExecutableFile(atPath: chromedriver)
            && pythonCanImportSelenium
    }

    static let pythonCanImportSelenium: Bool = {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import selenium"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }()

    static var canRun: Bool { isRequired || isInstalled }
    static let unavailableReason: Comment = "needs chromium, chromium-driver and selenium: run scripts/test (scripts/setup --tests installs them)"

    /// Runs `python3 Tests/browser/flows.py <flow> <arguments>` and decodes what it prints.
    static func run<Result: Decodable>(_ flow: String, _ arguments: [String], as type: Result.Type = Result.self) async throws -> Result {
        let script = try PythonProcess.launch("Tests/browser/flows.py", [flow] + arguments)
        let status = try await script.waitForExit(timeout: .seconds(180))
        try #require(status == 0, "browser flow \(flow) exited \(status); stderr:\n\(script.stderr)")
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do {
            return try decoder.decode(Result.self, from: Data(script.stdout.utf8))
        } catch {
            Issue.record("browser flow \(flow) printed what does not decode (\(error)):\n\(script.stdout)\nstderr:\n\(script.stderr)")
            throw error
        }
    }

    /// One API call as the page saw it: status, the renewal header as the script could read it, the JSON body.
    struct Call: Decodable, Sendable {
        var status: Int
        var renewed: String?
        var body: Body?

        /// What the demo upstream answers (/api/me: the caller; other /api/ paths: an echo) or a 401's code.
        struct Body: Decodable, Sendable {
            var userId: String?
            var claims: Claims?
            var cookieNames: [String]?
            var code: String?
        }

        struct Claims: Decodable, Sendable {
            var jti: String?
        }
    }
}
