// LeakSanitizer reads these suppressions from the test binary itself, so a
// plain `swift test --sanitize=address` needs no environment. They cover
// leaks outside this project only: Foundation's Process keeps weak-reference
// side tables, XCTest's suite bookkeeping lives until exit. (The same list is
// in Scripts/lsan.supp.)
private let suppressions: StaticString = """
    leak:libFoundation.so
    leak:libXCTest.so
    leak:libswiftDispatch.so
    leak:libdispatch.so

    """

@_cdecl("__lsan_default_suppressions")
public func lsanDefaultSuppressions() -> UnsafePointer<CChar> {
    UnsafeRawPointer(suppressions.utf8Start).assumingMemoryBound(to: CChar.self)
}
