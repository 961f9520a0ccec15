// Package pki makes and loads the certificates of a mitai cluster and builds
// the TLS configurations that use them.
//
// A cluster has one certificate authority (CA): a self-signed ECDSA P-256
// certificate that may sign leaf certificates only (MaxPathLen 0, no
// intermediates). Every node, coordinator replica and client of a party holds
// a leaf certificate issued by that CA whose Subject common name (CN) is the
// party name. The CN is the party's identity everywhere in mitai; a node may
// additionally be named in a URI SAN mitai://<party>/<node>, and a server
// certificate carries the DNS names and IP addresses it is reached at.
//
// All connections are TLS 1.3 and mutually authenticated: the dialling side
// must present a certificate as well as the serving side. The
// configurations built by [ServerConfig] and [ClientConfig] trust only the
// cluster CA, never the system roots. What is checked:
//
//   - when a configuration is built: the caller's own certificate was signed
//     directly by a CA in the given bundle, is not a CA itself, allows the
//     needed extended key usage, matches its private key and carries a valid
//     party name. Its validity period is left to the peer.
//   - at every handshake, by crypto/tls: the peer's chain leads to the cluster
//     CA, it is within its validity period, it allows server (or client)
//     authentication, and on the client side the server's certificate names
//     the server name dialled.
//   - at every handshake, by this package: the verified peer certificate has a
//     CN that is a valid party name (see [PartyOf]).
//
// What this package does not do: revocation (there are no CRLs or OCSP; keep
// certificate lifetimes short and rotate the CA to revoke), encrypted key
// files, hardware keys, or authorisation. Knowing which party is on the other
// end of a connection is all it provides; what that party may do is decided by
// the node's policies and the coordinator.
//
// Private keys are written with mode 0600, atomically, and existing files are
// never overwritten.
package pki
