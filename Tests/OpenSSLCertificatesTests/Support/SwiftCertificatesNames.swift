import X509

// swift-certificates and OpenSSL both name types BasicConstraints and
// GeneralName, and the X509 module's name is hidden by OpenSSL's X509 class
// in files that import both: these aliases reach swift-certificates' types.
typealias SwiftCertificatesBasicConstraints = BasicConstraints
typealias SwiftCertificatesGeneralName = GeneralName
