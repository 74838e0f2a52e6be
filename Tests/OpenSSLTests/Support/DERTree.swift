import Foundation

/// A DER element parsed into a tree, to edit good certificates into
/// malformed ones: change a node, and `encoded` writes it back with every
/// length recomputed. Single-byte tags only (all a certificate uses).
struct DERNode: Equatable {
    var tag: UInt8
    /// The contents of a primitive element.
    var content: [UInt8]
    /// The elements inside a constructed one (SEQUENCE, SET, [n] constructed).
    var children: [DERNode]

    var isConstructed: Bool { tag & 0x20 != 0 }

    struct Malformed: Error, CustomStringConvertible {
        let description: String
    }

    static func primitive(_ tag: UInt8, _ content: [UInt8]) -> DERNode {
        DERNode(tag: tag, content: content, children: [])
    }

    static func constructed(_ tag: UInt8, _ children: [DERNode]) -> DERNode {
        DERNode(tag: tag, content: [], children: children)
    }

    /// Parses exactly one element.
    init(der: [UInt8]) throws {
        let (node, end) = try DERNode.parse(der, at: 0)
        guard end == der.count else { throw Malformed(description: "\(der.count - end) bytes after the element") }
        self = node
    }

    init(tag: UInt8, content: [UInt8], children: [DERNode]) {
        self.tag = tag
        self.content = content
        self.children = children
    }

    /// Parses every element of `der`, one after another.
    static func parseAll(_ der: [UInt8]) throws -> [DERNode] {
        var nodes: [DERNode] = []
        var offset = 0
        while offset < der.count {
            let (node, end) = try parse(der, at: offset)
            nodes.append(node)
            offset = end
        }
        return nodes
    }

    private static func parse(_ der: [UInt8], at offset: Int) throws -> (DERNode, Int) {
        guard offset + 2 <= der.count else { throw Malformed(description: "truncated header at \(offset)") }
        let tag = der[offset]
        var length = Int(der[offset + 1])
        var start = offset + 2
        if length >= 0x80 {
            let count = length & 0x7f
            guard count > 0, start + count <= der.count else { throw Malformed(description: "bad length at \(offset)") }
            length = der[start..<(start + count)].reduce(0) { $0 << 8 | Int($1) }
            start += count
        }
        guard start + length <= der.count else { throw Malformed(description: "element at \(offset) runs past the end") }
        let content = Array(der[start..<(start + length)])
        if tag & 0x20 != 0 {
            return (.constructed(tag, try parseAll(content)), start + length)
        }
        return (.primitive(tag, content), start + length)
    }

    /// The element encoded, lengths recomputed.
    var encoded: [UInt8] {
        let body = isConstructed ? children.flatMap(\.encoded) : content
        return [tag] + DERNode.length(body.count) + body
    }

    static func length(_ count: Int) -> [UInt8] {
        if count < 0x80 { return [UInt8(count)] }
        var bytes: [UInt8] = []
        var rest = count
        while rest > 0 {
            bytes.insert(UInt8(rest & 0xff), at: 0)
            rest >>= 8
        }
        return [0x80 | UInt8(bytes.count)] + bytes
    }

    /// An OBJECT IDENTIFIER element for a dotted OID.
    static func oid(_ dotted: String) -> DERNode {
        let arcs = dotted.split(separator: ".").compactMap { UInt64($0) }
        var body: [UInt8] = [UInt8(arcs[0] * 40 + arcs[1])]
        for arc in arcs.dropFirst(2) {
            var chunk: [UInt8] = [UInt8(arc & 0x7f)]
            var rest = arc >> 7
            while rest > 0 {
                chunk.insert(UInt8(rest & 0x7f) | 0x80, at: 0)
                rest >>= 7
            }
            body += chunk
        }
        return .primitive(0x06, body)
    }
}

/// A certificate's DER as a tree, with the paths to the fields the tests edit.
struct EditableCertificate {
    var root: DERNode

    init(_ der: [UInt8]) throws { root = try DERNode(der: der) }

    var der: [UInt8] { root.encoded }

    /// tbsCertificate's fields, by name (version [0] is assumed present: v3).
    enum Field: Int {
        case serial = 1, signature, issuer, validity, subject, subjectPublicKeyInfo
    }

    subscript(field: Field) -> DERNode {
        get { root.children[0].children[field.rawValue] }
        set { root.children[0].children[field.rawValue] = newValue }
    }

    /// The outer signatureAlgorithm (after tbsCertificate).
    var outerSignatureAlgorithm: DERNode {
        get { root.children[1] }
        set { root.children[1] = newValue }
    }

    /// The Extension SEQUENCEs inside [3].
    var extensions: [DERNode] {
        get { root.children[0].children.last(where: { $0.tag == 0xa3 })?.children.first?.children ?? [] }
        set {
            guard let index = root.children[0].children.lastIndex(where: { $0.tag == 0xa3 }) else {
                root.children[0].children.append(.constructed(0xa3, [.constructed(0x30, newValue)]))
                return
            }
            root.children[0].children[index].children[0].children = newValue
        }
    }

    /// The index in `extensions` of the extension with `oid`.
    func extensionIndex(_ oid: String) -> Int? {
        let wanted = DERNode.oid(oid)
        return extensions.firstIndex { $0.children.first == wanted }
    }

    /// An Extension: the OID, and `value` as its extnValue.
    static func makeExtension(_ oid: String, value: [UInt8]) -> DERNode {
        .constructed(0x30, [DERNode.oid(oid), .primitive(0x04, value)])
    }

    /// Replaces the extnValue (the DER inside the OCTET STRING) of the extension with `oid`.
    mutating func setExtensionValue(_ oid: String, _ value: [UInt8]) {
        guard let index = extensionIndex(oid) else { return }
        var ext = extensions[index]
        ext.children[ext.children.count - 1] = .primitive(0x04, value)
        extensions[index] = ext
    }
}
