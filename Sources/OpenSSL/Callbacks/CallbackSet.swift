import Foundation

/// The callbacks a connection uses. A connection copies its context's set
/// when it is made (pinning them, so a context switch in the server-name
/// callback does not lose them) and, after a switch, takes from the new
/// context only the roles it has no callback for.
struct CallbackSet {
    var serverName: Context.ServerNameCallback?
    var alpnSelect: Context.ALPNSelectCallback?
    var keylog: Context.KeylogCallback?
    var info: Context.InfoCallback?
    var newSession: Context.NewSessionCallback?
    var ocspServer: Context.OCSPServerCallback?
    var ocspClient: Context.OCSPClientCallback?
    var cookieGenerate: Context.CookieGenerateCallback?
    var cookieVerify: Context.CookieVerifyCallback?
    var certificate: Context.CertificateCallback?

    /// Keeps every callback already set and takes `other`'s for the roles that have none.
    mutating func fillGaps(from other: CallbackSet) {
        serverName = serverName ?? other.serverName
        alpnSelect = alpnSelect ?? other.alpnSelect
        keylog = keylog ?? other.keylog
        info = info ?? other.info
        newSession = newSession ?? other.newSession
        ocspServer = ocspServer ?? other.ocspServer
        ocspClient = ocspClient ?? other.ocspClient
        cookieGenerate = cookieGenerate ?? other.cookieGenerate
        cookieVerify = cookieVerify ?? other.cookieVerify
        certificate = certificate ?? other.certificate
    }
}
