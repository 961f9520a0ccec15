package ledger

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"

	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
)

// Domain tags of the two canonical encodings (see the package doc).
const (
	entryTag   = "mitai/v1/audit-entry"
	contentTag = "mitai/v1/audit-content"
)

// EntryHash returns the hash an entry must carry: SHA-256 over the domain tag
// "mitai/v1/audit-entry" and every field of e but Hash, in the canonical
// encoding of the package doc:
//
//	lp(tag) u64(index) u64(time_unix_ms) lp(kind) lp(actor) lp(subject)
//	lp(detail) lp(prev_hash) lp(signer_cert) lp(signature)
func EntryHash(e *mitaiv1.AuditEntry) [32]byte {
	n := 8 + len(entryTag) + 8 + 8 +
		8 + len(e.GetKind()) + 8 + len(e.GetActor()) + 8 + len(e.GetSubject()) + 8 + len(e.GetDetail()) +
		8 + len(e.GetPrevHash()) + 8 + len(e.GetSignerCert()) + 8 + len(e.GetSignature())
	var stack [1024]byte
	b := stack[:0]
	if n > len(stack) {
		b = make([]byte, 0, n)
	}
	b = appendString(b, entryTag)
	b = binary.BigEndian.AppendUint64(b, e.GetIndex())
	b = binary.BigEndian.AppendUint64(b, uint64(e.GetTimeUnixMs()))
	b = appendString(b, e.GetKind())
	b = appendString(b, e.GetActor())
	b = appendString(b, e.GetSubject())
	b = appendBytes(b, e.GetDetail())
	b = appendBytes(b, e.GetPrevHash())
	b = appendBytes(b, e.GetSignerCert())
	b = appendBytes(b, e.GetSignature())
	return sha256.Sum256(b)
}

// ContentDigest returns what a node signs: SHA-256 over the domain tag
// "mitai/v1/audit-content" and the entry's kind, actor, subject, detail and
// signer_cert, each length-prefixed:
//
//	lp(tag) lp(kind) lp(actor) lp(subject) lp(detail) lp(signer_cert)
//
// It leaves out index, time_unix_ms and prev_hash, which the leader fills in
// after the node has signed, and hash and signature, which depend on it.
func ContentDigest(e *mitaiv1.AuditEntry) [32]byte {
	return contentDigest(e, e.GetSignerCert())
}

// contentDigest is ContentDigest with signer_cert taken from certDER.
func contentDigest(e *mitaiv1.AuditEntry, certDER []byte) [32]byte {
	n := 8 + len(contentTag) +
		8 + len(e.GetKind()) + 8 + len(e.GetActor()) + 8 + len(e.GetSubject()) + 8 + len(e.GetDetail()) +
		8 + len(certDER)
	var stack [1024]byte
	b := stack[:0]
	if n > len(stack) {
		b = make([]byte, 0, n)
	}
	b = appendString(b, contentTag)
	b = appendString(b, e.GetKind())
	b = appendString(b, e.GetActor())
	b = appendString(b, e.GetSubject())
	b = appendBytes(b, e.GetDetail())
	b = appendBytes(b, certDER)
	return sha256.Sum256(b)
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytes(b, v []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(len(v)))
	return append(b, v...)
}

// Sign makes e a node-signed entry: it sets e.SignerCert to certDER (copied)
// and e.Signature to an ECDSA P-256 signature, ASN.1 DER encoded, over
// [ContentDigest] made with key, the private key of the certificate. Sign it
// after kind, actor, subject and detail are final; index, time and prev_hash
// may be filled in later. key may be any crypto.Signer (a hardware key, say);
// Sign checks that it matches the certificate and that the signature it got
// back verifies. On error e is left unchanged.
func Sign(e *mitaiv1.AuditEntry, certDER []byte, key crypto.Signer) error {
	if e == nil {
		return errors.New("ledger: sign: nil entry")
	}
	if key == nil {
		return errors.New("ledger: sign: nil key")
	}
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		return fmt.Errorf("ledger: sign: signer certificate: %w", err)
	}
	pub, err := p256Key(cert)
	if err != nil {
		return fmt.Errorf("ledger: sign: %w", err)
	}
	if own, ok := key.Public().(*ecdsa.PublicKey); !ok || !own.Equal(pub) {
		return fmt.Errorf("ledger: sign: the key does not belong to certificate %q", cert.Subject.CommonName)
	}
	certDER = bytes.Clone(certDER)
	digest := contentDigest(e, certDER)
	sig, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return fmt.Errorf("ledger: sign: %w", err)
	}
	if !ecdsa.VerifyASN1(pub, digest[:], sig) {
		return errors.New("ledger: sign: the key made a signature that does not verify (expected ASN.1 ECDSA)")
	}
	e.SignerCert, e.Signature = certDER, sig
	return nil
}

// p256Key returns cert's public key if it is an ECDSA P-256 key.
func p256Key(cert *x509.Certificate) (*ecdsa.PublicKey, error) {
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, fmt.Errorf("signer certificate %q has a %s key, not ECDSA P-256", cert.Subject.CommonName, cert.PublicKeyAlgorithm)
	}
	return pub, nil
}
