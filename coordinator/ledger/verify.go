package ledger

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"time"

	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
)

// BrokenError names the first entry that fails verification.
type BrokenError struct {
	// Index is the index expected at Position: the range's first index
	// plus Position. For a hash or signature failure it is the entry's own
	// index; when an entry is missing or out of place it is the index
	// expected where the sequence broke.
	Index uint64
	// Position is the entry's 0-based position in the list given.
	Position int
	// Reason says what is wrong.
	Reason string
}

// Error returns, for instance, "ledger: entry 17 is broken: hash does not
// match its content".
func (e *BrokenError) Error() string {
	return fmt.Sprintf("ledger: entry %d is broken: %s", e.Index, e.Reason)
}

// Verify checks a list of entries in order and returns a [*BrokenError] for
// the first one that fails, or nil. The list may be a range of a ledger: it
// is [VerifyRange] with first taken from entries[0].Index. An empty list
// verifies. See the package doc for what Verify cannot detect; in particular
// a list whose leading entries were removed is a valid range, so use
// VerifyRange(entries, 1, roots) when the list should be a whole ledger.
func Verify(entries []*mitaiv1.AuditEntry, roots *x509.CertPool) error {
	if len(entries) == 0 {
		return nil
	}
	return VerifyRange(entries, entries[0].GetIndex(), roots)
}

// VerifyRange checks that entries are the range of a ledger that starts at
// index first (1 for a whole ledger) and returns a [*BrokenError] for the
// first entry that fails, or nil. For each entry, in order:
//
//   - its index is first plus its position;
//   - prev_hash is 32 bytes and equals the previous entry's hash; for the
//     first entry it is checked only when first is 1, and must be zero;
//   - hash is 32 bytes and equals [EntryHash];
//   - signature and signer_cert are both set or both empty; when set, the
//     certificate parses, has an ECDSA P-256 key, and the signature verifies
//     over [ContentDigest];
//   - when roots != nil, the signer certificate chains to roots (with no
//     intermediates: a mitai CA issues leaves directly), allows client
//     authentication, is valid at the entry's time_unix_ms (so an old
//     ledger still verifies after its certificates expire), and its common
//     name, the party, equals the entry's actor.
//
// Entries without a signature pass the last two checks: they are the
// coordinator's own records. An empty list verifies.
func VerifyRange(entries []*mitaiv1.AuditEntry, first uint64, roots *x509.CertPool) error {
	if len(entries) == 0 {
		return nil
	}
	if first == 0 {
		return &BrokenError{Index: 0, Position: 0, Reason: "index 0: ledger indices start at 1"}
	}
	certs := make(map[string]*x509.Certificate)
	var zero [32]byte
	for i, e := range entries {
		if first > math.MaxUint64-uint64(i) {
			return &BrokenError{Index: e.GetIndex(), Position: i, Reason: "index overflows"}
		}
		want := first + uint64(i)
		broken := func(format string, args ...any) error {
			return &BrokenError{Index: want, Position: i, Reason: fmt.Sprintf(format, args...)}
		}
		if e == nil {
			return broken("missing (nil entry)")
		}
		if e.Index != want {
			return broken("found entry with index %d at position %d, expected %d (an entry is missing, duplicated or out of order)", e.Index, i, want)
		}
		if len(e.PrevHash) != 32 {
			return broken("prev_hash is %d bytes long, expected 32", len(e.PrevHash))
		}
		switch {
		case i > 0:
			if !bytes.Equal(e.PrevHash, entries[i-1].Hash) {
				return broken("prev_hash does not match the hash of entry %d", want-1)
			}
		case want == 1:
			if !bytes.Equal(e.PrevHash, zero[:]) {
				return broken("prev_hash of the first entry is not zero")
			}
		}
		if len(e.Hash) != 32 {
			return broken("hash is %d bytes long, expected 32", len(e.Hash))
		}
		if h := EntryHash(e); !bytes.Equal(e.Hash, h[:]) {
			return broken("hash does not match its content")
		}
		if reason := checkSignature(e, roots, certs); reason != "" {
			return broken("%s", reason)
		}
	}
	return nil
}

// checkSignature returns why e's signature does not verify, or "". certs
// caches parsed certificates by DER.
func checkSignature(e *mitaiv1.AuditEntry, roots *x509.CertPool, certs map[string]*x509.Certificate) string {
	switch {
	case len(e.SignerCert) == 0 && len(e.Signature) == 0:
		return ""
	case len(e.SignerCert) == 0:
		return "signature without signer_cert"
	case len(e.Signature) == 0:
		return "signer_cert without signature"
	}
	cert, ok := certs[string(e.SignerCert)]
	if !ok {
		var err error
		if cert, err = x509.ParseCertificate(e.SignerCert); err != nil {
			return fmt.Sprintf("signer_cert does not parse: %v", err)
		}
		certs[string(e.SignerCert)] = cert
	}
	pub, err := p256Key(cert)
	if err != nil {
		return err.Error()
	}
	digest := ContentDigest(e)
	if !ecdsa.VerifyASN1(pub, digest[:], e.Signature) {
		return fmt.Sprintf("signature does not verify with the key of signer_cert %q", cert.Subject.CommonName)
	}
	if roots == nil {
		return ""
	}
	at := time.UnixMilli(e.TimeUnixMs)
	_, err = cert.Verify(x509.VerifyOptions{
		Roots:       roots,
		CurrentTime: at,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return fmt.Sprintf("signer certificate %q is not valid for client authentication under the given CA at the entry's time %s: %v",
			cert.Subject.CommonName, at.UTC().Format(time.RFC3339), err)
	}
	if cn := cert.Subject.CommonName; cn != e.Actor {
		return fmt.Sprintf("signed by party %q (signer certificate CN), but the actor is %q", cn, e.Actor)
	}
	return ""
}

// VerifySignature checks one entry's signature with its signer certificate,
// and, when roots != nil, the certificate as [VerifyRange] does. An entry
// without a signature fails.
func VerifySignature(e *mitaiv1.AuditEntry, roots *x509.CertPool) error {
	if len(e.GetSignature()) == 0 {
		return errors.New("ledger: entry is not signed")
	}
	if reason := checkSignature(e, roots, map[string]*x509.Certificate{}); reason != "" {
		return errors.New("ledger: " + reason)
	}
	return nil
}
