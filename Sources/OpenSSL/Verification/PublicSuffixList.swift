import Foundation

/// The Public Suffix List (https://publicsuffix.org), ICANN and PRIVATE
/// sections alike, as the system ships it (Debian's `publicsuffix` package),
/// every entry held as A-labels. Rule E1 of the Web-PKI policy asks it
/// whether a wildcard covers a public suffix.
///
/// Read once per path and shared: a policy made again reuses the list.
final class PublicSuffixList: Sendable {
    /// Where Debian's `publicsuffix` package puts the list.
    static let systemPath = VerificationPolicy.systemPublicSuffixListPath

    /// The file it was read from.
    let path: String
    /// Ordinary rules ("co.uk").
    private let rules: Set<String>
    /// Wildcard rules, without their "*." ("ck" for "*.ck").
    private let wildcards: Set<String>
    /// Exception rules, without their "!" ("www.ck").
    private let exceptions: Set<String>

    /// How many rules the list holds (all three kinds).
    var count: Int { rules.count + wildcards.count + exceptions.count }

    private init(path: String, rules: Set<String>, wildcards: Set<String>, exceptions: Set<String>) {
        self.path = path
        self.rules = rules
        self.wildcards = wildcards
        self.exceptions = exceptions
    }

    private static let cache = Locked([String: PublicSuffixList]())

    /// The list at `path`, read on first use and kept.
    /// - Throws: `OpenSSLError` saying which file and why when it cannot be
    ///   read or holds no rule.
    static func load(path: String = systemPath) throws -> PublicSuffixList {
        if let cached = cache.withLock({ $0[path] }) { return cached }
        let list = try read(path: path)
        return cache.withLock { cached in
            if let existing = cached[path] { return existing }
            cached[path] = list
            return list
        }
    }

    private static func read(path: String) throws -> PublicSuffixList {
        let operation = "load the Public Suffix List"
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            let reason = FileManager.default.fileExists(atPath: path) ? "it cannot be read as UTF-8 text" : "no such file"
            throw OpenSSLError(
                operation: operation,
                detail: "\(path): \(reason); the Web-PKI policy needs it for rule E1 "
                    + "(on Debian: apt-get install publicsuffix, or Scripts/bootstrap.sh)")
        }
        var rules = Set<String>()
        var wildcards = Set<String>()
        var exceptions = Set<String>()
        for line in text.split(whereSeparator: \.isNewline) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty, !trimmed.hasPrefix("//"),
                let token = trimmed.split(whereSeparator: \.isWhitespace).first
            else { continue }
            var entry = String(token)
            var kind = 0
            if entry.hasPrefix("!") {
                kind = 2
                entry.removeFirst()
            } else if entry.hasPrefix("*.") {
                kind = 1
                entry.removeFirst(2)
            }
            guard !entry.isEmpty, let ascii = Punycode.aLabels(entry) else { continue }
            switch kind {
            case 1: wildcards.insert(ascii)
            case 2: exceptions.insert(ascii)
            default: rules.insert(ascii)
            }
        }
        guard !rules.isEmpty else {
            throw OpenSSLError(operation: operation, detail: "\(path) holds no rule")
        }
        return PublicSuffixList(path: path, rules: rules, wildcards: wildcards, exceptions: exceptions)
    }

    /// True when `domain` (A-labels, any case, no trailing dot) is itself a
    /// public suffix by the list's algorithm: an ordinary rule names it, or a
    /// wildcard rule covers it and no exception rule takes it out, or it is a
    /// single label (the implicit "*" rule: every top-level domain).
    func isPublicSuffix(_ domain: String) -> Bool {
        let name = domain.lowercased()
        guard !name.isEmpty else { return true }
        if exceptions.contains(name) { return false }
        if rules.contains(name) { return true }
        guard let dot = name.firstIndex(of: ".") else { return true }
        return wildcards.contains(String(name[name.index(after: dot)...]))
    }
}
