// swift-tools-version:6.1
// Benchmarks for swift-openssl: the same workloads written directly in C
// against libssl (the limit), through this library, and through
// swift-nio-ssl (the Swift library users would otherwise pick), in one
// process, with a malloc counter. Its own package, so the library's users
// never build it. Run it with Scripts/bench.sh.
import PackageDescription

let package = Package(
    name: "swift-openssl-benchmarks",
    dependencies: [
        .package(name: "swift-openssl", path: ".."),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // The plain C reference: two BIO_s_mem and a copy pump, straight against libssl.
        .target(
            name: "CBench",
            cSettings: [.unsafeFlags(["-O2"])],
            linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto"), .linkedLibrary("pthread")]
        ),
        // Counts malloc/calloc/realloc/aligned allocations of the whole
        // process (Swift, libssl, libcrypto) by defining them in the
        // executable, which the dynamic linker then prefers to glibc's.
        .target(name: "MallocCounter"),
        .executableTarget(
            name: "bench",
            dependencies: [
                "CBench",
                "MallocCounter",
                .product(name: "OpenSSL", package: "swift-openssl"),
                .product(name: "OpenSSLNIO", package: "swift-openssl"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
