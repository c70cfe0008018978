// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "auth-gateway",
    // Linux only: the transport drives libcurl from its own epoll loop (no platform list: SwiftPM has no
    // way to say "Linux", and naming macOS would promise a build that cannot work).
    products: [
        .executable(name: "gateway", targets: ["gateway"]),
        .library(name: "GatewayCore", targets: ["GatewayCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", exact: "0.6.0"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.8.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/swift-extras/swift-extras-base64", from: "1.2.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        // HTTP/2 inbound (docs/http.md#tls-and-http2): NIO's HTTP/2 state machine, HPACK and its HTTP/2-to-HTTP/1 stream codec.
        .package(url: "https://github.com/apple/swift-nio-http2", from: "1.46.0"),
        // ServerQuiescingHelper: graceful shutdown (the listener closes, connections finish and close).
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        // Metrics (docs/operations.md#metrics): swift-prometheus's registry and text format (it builds on swift-metrics; its own
        // API is used directly because swift-metrics' has no help text, and every metric needs # HELP).
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .target(
            name: "GatewayCore",
            dependencies: [
                "CCurl",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                // RSA key primitives (n, e) for the RS256 key's kid and JWK (docs/operations.md#keys-kid-rotation-and-jwks).
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "ExtrasBase64", package: "swift-extras-base64"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .executableTarget(
            name: "gateway",
            dependencies: [
                "GatewayCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                // SIGHUP: reload (docs/operations.md#reload); the package ServiceGroup already uses for SIGTERM/SIGINT.
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "gateway-microbench",
            dependencies: [
                "GatewayCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "GatewayCoreTests",
            dependencies: ["GatewayCore", .product(name: "PostgresNIO", package: "postgres-nio")]
        ),
        .testTarget(
            name: "GatewayIntegrationTests",
            dependencies: [
                "GatewayCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ]
)
