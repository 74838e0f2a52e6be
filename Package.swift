// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "swift-openssl",
    products: [
        .library(name: "OpenSSL", targets: ["OpenSSL"]),
        .library(name: "OpenSSLNIO", targets: ["OpenSSLNIO"]),
        .executable(name: "ossl", targets: ["ossl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // OpenSSLNIO only: a package that uses the OpenSSL product alone builds none of it.
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        // Tests only: NIOSSLHandler as an in-process peer of the NIO handlers (N04).
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        // The system OpenSSL 3 (Debian's libssl-dev). module.modulemap + shim.h only:
        // shim.h re-exports what Swift cannot import (function-like macros) as
        // one-statement `static inline` wrappers.
        .systemLibrary(
            name: "COpenSSL",
            path: "Sources/COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"]), .brew(["openssl@3"])]
        ),
        .target(
            name: "OpenSSL",
            dependencies: ["COpenSSL"]
        ),
        // The TLS handlers of a SwiftNIO pipeline over memory-BIO Connections
        // (Docs/nio.md). OpenSSL itself does not depend on NIO.
        .target(
            name: "OpenSSLNIO",
            dependencies: [
                "OpenSSL",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "ossl",
            dependencies: [
                "OpenSSL",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Leak and RSS soak for Scripts/leakcheck.sh; not a product.
        .executableTarget(
            name: "soak",
            dependencies: ["OpenSSL"]
        ),
        // One TLS 1.3 exchange on 127.0.0.1 with its secrets in $SSLKEYLOGFILE,
        // for Scripts/keylog-decrypt.sh.
        .executableTarget(
            name: "keylog-demo",
            dependencies: ["OpenSSL"]
        ),
        .testTarget(
            name: "OpenSSLTests",
            dependencies: ["OpenSSL", "COpenSSL"],
            exclude: ["Fixtures"]
        ),
        // The NIO handlers over EmbeddedChannel pairs and real sockets, against
        // NIOSSLHandler in process and openssl, Python's ssl and GnuTLS peers.
        .testTarget(
            name: "OpenSSLNIOTests",
            dependencies: [
                "OpenSSLNIO", "OpenSSL", "COpenSSL",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // Real peers (openssl s_server/s_client, Python's ssl, GnuTLS) in
        // child processes; Scripts/conformance.sh runs it alone.
        .testTarget(
            name: "InteropTests",
            dependencies: ["OpenSSL", "COpenSSL"],
            exclude: ["Peers"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
