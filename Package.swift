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
        // Scripts/docs.sh only: `swift package generate-documentation`.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
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
                // The bootstrap helpers only (AsyncChannel+OpenSSL.swift).
                .product(name: "NIOPosix", package: "swift-nio"),
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
        // The HTTPS example (Docs/nio.md): a mutual-TLS server on NIOHTTP1 and
        // OpenSSLServerHandler whose client check asks a slow trust store.
        // `swift run https-example --cert … --key … --client-ca … --known …`;
        // HTTPSExampleTests drives it with curl.
        .executableTarget(
            name: "https-example",
            dependencies: [
                "OpenSSL", "OpenSSLNIO",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Examples/https-server"
        ),
        // What every test target shares (not a product): TestPKI, the
        // memory-BIO pair (TLSPair, TestContexts), PeerProcess (the one way a
        // test starts a program: peers, servers, tools run to completion),
        // TemporaryDirectory and LockedBox. Test files `import TestSupport`.
        .target(
            name: "TestSupport",
            dependencies: ["OpenSSL", "COpenSSL"],
            path: "Tests/TestSupport"
        ),
        // "ossl" too: the CLI's security tests (CLISecurityTests) reach its
        // TOFU store and atomic file writer with @testable import.
        .testTarget(
            name: "OpenSSLTests",
            dependencies: ["OpenSSL", "COpenSSL", "ossl", "TestSupport"],
            exclude: ["Fixtures"]
        ),
        // The code of Docs/getting-started.md, in a module of its own with a
        // plain `import OpenSSL`: an example that used internal API would not
        // compile, and no other file's @testable import can lend it any.
        .testTarget(
            name: "DocExamplesTests",
            dependencies: ["OpenSSL", "TestSupport"]
        ),
        // The NIO handlers over EmbeddedChannel pairs and real sockets, against
        // NIOSSLHandler in process and openssl, Python's ssl and GnuTLS peers;
        // the HTTPS example (in process) against curl.
        .testTarget(
            name: "OpenSSLNIOTests",
            dependencies: [
                "OpenSSLNIO", "OpenSSL", "COpenSSL", "https-example", "TestSupport",
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
            dependencies: ["OpenSSL", "COpenSSL", "TestSupport"],
            exclude: ["Peers"]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// OpenSSLCertificates (issue 19): the bridge to swift-certificates and
// swift-crypto. Kept in one block so that users of `OpenSSL` alone build
// neither package, and so that this hunk stands apart from the rest.
package.products.append(.library(name: "OpenSSLCertificates", targets: ["OpenSSLCertificates"]))
package.dependencies += [
    .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
    // swift-certificates 1.21 takes swift-crypto 3.12.3 up to (not including) 6;
    // this allows the majors built and tested here, 3 and 4 (4.5.2 resolves).
    .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
    .package(url: "https://github.com/apple/swift-asn1", from: "1.1.0"),
]
package.targets += [
    .target(
        name: "OpenSSLCertificates",
        dependencies: [
            "OpenSSL",
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
        ]
    ),
    .testTarget(
        name: "OpenSSLCertificatesTests",
        dependencies: ["OpenSSLCertificates", "OpenSSL", "COpenSSL", "TestSupport"]
    ),
]
