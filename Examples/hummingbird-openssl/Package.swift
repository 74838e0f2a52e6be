// swift-tools-version:6.2
// Hummingbird 2.28 serving HTTPS through swift-openssl's OpenSSLServerHandler
// (the system's OpenSSL) instead of HummingbirdTLS (swift-nio-ssl, BoringSSL).
// Its own package, so the library's users never build Hummingbird.
// Scripts/example-hummingbird.sh builds it, runs it and curls it.
import PackageDescription

let package = Package(
    name: "hummingbird-openssl-example",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "swift-openssl", path: "../.."),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(
            name: "HummingbirdOpenSSL",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "OpenSSL", package: "swift-openssl"),
                .product(name: "OpenSSLNIO", package: "swift-openssl"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        )
    ],
    swiftLanguageModes: [.v6]
)
