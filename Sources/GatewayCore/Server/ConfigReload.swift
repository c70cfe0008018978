import Foundation
import Logging
import NIOSSL
import Synchronization

/// What a reload did; `failed` lists the problems as logged, one `config reload failed: …` line each.
public enum ReloadOutcome: Sendable, Equatable {
    case reloaded
    case failed([String])
}

/// Reload (docs/operations.md#reload): re-reads the config file and the key files, compiles them the way start-up does, and swaps
/// the result in whole; anything wrong changes nothing. Runs on the caller's task, never on an event loop (file
/// reads, key loads). One at a time: the SIGHUP service awaits each before the next.
final class ConfigReload: Sendable {
    private let active: ActiveGateway
    private let lasting: CompiledGateway.Lasting
    private let successes = Atomic<Int>(0)
    private let failures = Atomic<Int>(0)

    init(active: ActiveGateway, lasting: CompiledGateway.Lasting) {
        self.active = active
        self.lasting = lasting
    }

    /// Reloads done, by result: `gateway_config_reloads_total{result}` (docs/operations.md#metrics).
    var counts: (success: Int, failure: Int) {
        (successes.load(ordering: .relaxed), failures.load(ordering: .relaxed))
    }

    func reload(from path: String, reader: ConfigReader) async -> ReloadOutcome {
        let outcome = await compileAndSwap(path, reader: reader)
        switch outcome {
        case .reloaded:
            successes.add(1, ordering: .relaxed)
            lasting.metrics.count(.success)
            lasting.logger.info("config reloaded")
        case .failed(let problems):
            failures.add(1, ordering: .relaxed)
            lasting.metrics.count(.failure)
            for problem in problems { lasting.logger.error("config reload failed: \(problem)") }
        }
        return outcome
    }

    private func compileAndSwap(_ path: String, reader: ConfigReader) async -> ReloadOutcome {
        let config: GatewayConfig
        do {
            config = try reader.read(path: path)
        } catch {
            return .failed(error.problems.map(\.description))
        }
        // Checked before the keys load: a refused file must not even create a missing secret file.
        let restricted = ReloadRestrictions.problems(running: active.current.config, reloaded: config, file: path)
        guard restricted.isEmpty else { return .failed(restricted.map(\.description)) }
        let key: SigningKey
        do {
            key = try await SigningKey.load(config.tokens, relativeTo: ConfigReader.directory(of: path))
        } catch {
            return .failed(["\(error)"])
        }
        let tls: NIOSSLContext?
        do {
            tls = try ListenerTLS.load(config.server, relativeTo: ConfigReader.directory(of: path))
        } catch {
            return .failed([error.description])
        }
        let sink: AccessLog.Sink?
        do {
            sink = try AccessLog.sink(config.log.access, baseDirectory: ConfigReader.directory(of: path))
        } catch {
            return .failed([error.description])
        }
        lasting.revocations.retainLonger(for: config.tokens)
        active.swap(to: CompiledGateway(config: config, key: key, tls: tls, lasting: lasting))
        lasting.accessLog.retarget(sink)
        return .reloaded
    }
}
