import Foundation

/// The libFuzzer entry points. One binary holds every target; `FUZZ_TARGET` picks the one a run exercises
/// (scripts/fuzz sets it), so the gateway's sources are compiled and instrumented once for all of them.
enum FuzzTargets {
    struct Target: Sendable {
        let name: String
        let run: @Sendable ([UInt8]) -> Void
    }

    static let all: [Target] = [
        Target(name: "bearer", run: BearerFuzz.run),
        Target(name: "token", run: TokenFuzz.run),
        Target(name: "request-target", run: RequestTargetFuzz.run),
        Target(name: "cookie", run: CookieFuzz.run),
        Target(name: "json", run: JSONFuzz.run),
        Target(name: "config", run: ConfigFuzz.run),
        Target(name: "header-lines", run: HeaderLinesFuzz.run),
        Target(name: "request-head", run: RequestHeadFuzz.run),
        Target(name: "status-line", run: StatusLineFuzz.run),
        Target(name: "upgrade-response", run: UpgradeResponseFuzz.run),
    ]

    /// Chosen once in `LLVMFuzzerInitialize`, before any input runs; read-only afterwards.
    nonisolated(unsafe) static var selected: Target?
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    let names = FuzzTargets.all.map(\.name)
    let name = ProcessInfo.processInfo.environment["FUZZ_TARGET"] ?? ""
    if name == "list" {
        print(names.joined(separator: "\n"))
        exit(0)
    }
    guard let target = FuzzTargets.all.first(where: { $0.name == name }) else {
        FileHandle.standardError.write(Data("set FUZZ_TARGET to one of: \(names.joined(separator: " ")) (or list)\n".utf8))
        exit(2)
    }
    FuzzTargets.selected = target
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    FuzzTargets.selected!.run(bytes)
    return 0
}
