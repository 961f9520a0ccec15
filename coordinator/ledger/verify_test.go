package ledger

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
)

func TestVerifyGoodChain(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "ca")
	es := buildChain(t, 50, ca.issue(t, "bank")).Entries()
	nsigned := 0
	for _, e := range es {
		if len(e.Signature) > 0 {
			nsigned++
		}
	}
	if nsigned != 10 {
		t.Fatalf("%d signed entries, want 10", nsigned)
	}
	tests := []struct {
		name    string
		entries []*mitaiv1.AuditEntry
		first   uint64 // 0: Verify
		roots   *x509.CertPool
	}{
		{"whole, no roots", es, 0, nil},
		{"whole, roots", es, 0, ca.pool},
		{"whole from 1, roots", es, 1, ca.pool},
		{"range 10..30", es[9:30], 0, ca.pool},
		{"range 10..30 from 10", es[9:30], 10, ca.pool},
		{"one entry", es[49:], 0, ca.pool},
		{"empty", nil, 0, ca.pool},
	}
	for _, tt := range tests {
		var err error
		if tt.first == 0 {
			err = Verify(tt.entries, tt.roots)
		} else {
			err = VerifyRange(tt.entries, tt.first, tt.roots)
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}

// TestVerifyTampering tampers with a good chain of 50 entries (entries 3, 8,
// 13, ... signed by node "bank") and checks that Verify names the right
// entry.
func TestVerifyTampering(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "ca")
	bank := ca.issue(t, "bank")
	otherCA := newTestCA(t, "other ca")
	good := buildChain(t, 50, bank).Entries()

	// resign re-signs the entry at position i with node and rewrites the
	// chain from there, as a forger holding node's key would.
	resign := func(t *testing.T, es []*mitaiv1.AuditEntry, i int, node testNode) {
		if err := Sign(es[i], node.der, node.key); err != nil {
			t.Fatal(err)
		}
		rechain(es, i)
	}
	type tamper = func(t *testing.T, es []*mitaiv1.AuditEntry) []*mitaiv1.AuditEntry
	tests := []struct {
		name     string
		tamper   tamper
		roots    bool   // verify with the CA pool
		first    uint64 // 0: Verify, else VerifyRange from first
		index    uint64 // entry the error must name
		reason   string // in the error
		goodNoCA bool   // the tampered list verifies without roots
	}{
		{name: "byte of detail of entry 17", index: 17, reason: "hash does not match",
			tamper: func(_ *testing.T, es []*mitaiv1.AuditEntry) []*mitaiv1.AuditEntry {
				es[16].Detail[5] ^= 0x01
				return es
			}},
		{name: "byte of detail of entry 1", index: 1, reason: "hash does not match",
			tamper: func(_ *testing.T, es []*mitaiv1.AuditEntry) []*mitaiv1.AuditEntry {
				es[0].Detail[0] ^= 0x80
				return es
			}},
		{name: "byte of detail of entry 50", index: 50, reason: "hash does not match",
			tamper: func(_ *testing.T, es []*mitaiv1.AuditEntry) []*mitaiv1.AuditEntry {
				es[49].Detail[len(es[49].Detail)-1] ^= 0x01
				return es
			}},
		{name: "kind of entry 22", index: 22, reason: "hash does not match",
			tamper: func(_ *testing.T, es []*mitaiv1.AuditEntry) []*mitaiv1.AuditEntry {
				es[21].Kind = "job.approved"
				return es
			}},
		{name: "time of entry 30", index: 30, reason: "hash does not match",
			tamper: func(_ *testing.T, es []*mitaiv1.AuditEntry) []*mitaiv1.AuditEntry {
				es[29].TimeUnixMs++
				return es
			}},
		{name: "entries 10 and 20 swapped", index: 10, reason: "index 20 at position 9",
			tamper: func(_ *testing.T, es []*mitaiv1.AuditEntry) []*mitaiv1.AuditEntry {
				es[9], es[19] = es[19], es[9]
				return es
			}},
		{name: "entries 10 and 20 swapped, indices renumbered", index: 10, reason: "prev_hash does not match the hash of entry 9",
			tamper: func(_ *testing.T, es []*mitaiv1.AuditEntry) []*mitaiv1.AuditEntry {
				es[9], es[19] = es[19], es[9]
				es[9].Index, es[19].Index = 10, 20
				return es
			}},
		{name: "entries 1 and 2 swapped, whole ledger", first: 1, index: 1, reason: "index 2 at position 0",
			tamper: func(_ *testing.T, es []*mitaiv1.AuditEntry) []*mitaiv1.AuditEntry {
				es[0], es[1] = es[1], es[0]
				return es
			}},
		{name: "entry 25 deleted", index: 25, reason: "index 26 at position 24",
			tamper: func(_ *testing.T, es []*mitaiv1.AuditEntry) []*mitaiv1.AuditEntry {
				return append(es[:24], es[25:]...)
			}},
		{name: "entry 25 deleted, later indices renumbered", index: 25, reason: "prev_hash does not match the hash of entry 24",
			tamper: func(_ *testing.T, es []*mitaiv1.AuditEntry) []*mitaiv1.AuditEntry {
				es = append(es[:24], es[25:]...)
				for i := 24; i < len(es); i++ {
					es[i].Index--
				}
				return es
			}},
		{name: "entry 12 duplicated", index: 13, reason: "index 12 at position 12",
			tamper: func(_ *testing.T, es []*mitaiv1.AuditEntry) []*mitaiv1.AuditEntry {
				return append(es[:12], append([]*mitaiv1.AuditEntry{es[11]}, es[12:]...)...)
			}},
		{name: "entry 1 deleted, whole ledger", first: 1, index: 1, reason: "index 2 at position 0",
			tamper: func(_ *testing.T, es []*mitaiv1.AuditEntry) []*mitaiv1.AuditEntry {
				return es[1:]
			}},
		{name: "index of entry 1 set to 3, whole ledger", first: 1, index: 1, reason: "index 3 at position 0",
			tamper: func(_ *testing.T, es []*mitaiv1.AuditEntry) []*mitaiv1.AuditEntry {
				es[0].Index = 3
				return es
			}},
		{name: "index 0", index: 0, reason: "indices start at 1",
			tamper: func(_ *testing.T, es []*mitaiv1.AuditEntry) []*mitaiv1.AuditEntry {
				es[0].Index = 0
				return es
			}},
		{name: "prev_hash of entry 30", index: 30, reason: "prev_hash does not match the hash of entry 29",
			tamper: func(_ *testing.T, es []*mitaiv1.AuditEntry) []*mitaiv1.AuditEntry {
				es[29].PrevHash[0] ^= 0x01
				return es
			}},
		{name: "hash of entry 30", index: 30, reason: "hash does not match",
			tamper: func(_ *testing.T, es []*mitaiv1.AuditEntry) []*mitaiv1.AuditEntry {
				es[29].Hash[31] ^= 0x01
				return es
			}},
		{name: "prev_hash of entry 1 not zero, chain rewritten", index: 1, reason: "prev_hash of the first entry is not zero",
			tamper: func(_ *testing.T, es []*mitaiv1.AuditEntry) []*mitaiv1.AuditEntry {
				es[0].PrevHash[0] = 1
				rechain(es, 0)
				return es
			}},
		{name: "short prev_hash of entry 5", index: 5, reason: "prev_hash is 31 bytes",
			tamper: func(_ *testing.T, es []*mitaiv1.AuditEntry) []*mitaiv1.AuditEntry {
				es[4].PrevHash = es[4].PrevHash[:31]
				return es
			}},
		{name: "no hash on entry 5", index: 5, reason: "hash is 0 bytes",
			tamper: func(_ *testing.T, es []*mitaiv1.AuditEntry) []*mitaiv1.AuditEntry {
				es[4].Hash = nil
				return es
			}},
		{name: "nil entry 6", index: 6, reason: "nil entry",
			tamper: func(_ *testing.T, es []*mitaiv1.AuditEntry) []*mitaiv1.AuditEntry {
				es[5] = nil
				return es
			}},
		{name: "signature of entry 23 forged", index: 23, reason: "hash does not match",
			tamper: func(_ *testing.T, es []*mitaiv1.AuditEntry) []*mitaiv1.AuditEntry {
				es[22].Signature[10] ^= 0x01
				return es
			}},
		{name: "signature of entry 23 forged, chain rewritten", index: 23, reason: "signature does not verify",
			tamper: func(_ *testing.T, es []*mitaiv1.AuditEntry) []*mitaiv1.AuditEntry {
				es[22].Signature[10] ^= 0x01
				rechain(es, 22)
				return es
			}},
		{name: "signature of entry 23 made by another key, chain rewritten", index: 23, reason: "signature does not verify",
			tamper: func(t *testing.T, es []*mitaiv1.AuditEntry) []*mitaiv1.AuditEntry {
				mallory := ca.issue(t, "bank")
				resign(t, es, 22, mallory)
				es[22].SignerCert = bank.der // claim it was bank's node
				rechain(es, 22)
				return es
			}},
		{name: "detail of signed entry 23, chain rewritten", index: 23, reason: "signature does not verify",
			tamper: func(_ *testing.T, es []*mitaiv1.AuditEntry) []*mitaiv1.AuditEntry {
				es[22].Detail[3] ^= 0x01
				rechain(es, 22)
				return es
			}},
		{name: "actor of signed entry 23, chain rewritten", index: 23, reason: "signature does not verify",
			tamper: func(_ *testing.T, es []*mitaiv1.AuditEntry) []*mitaiv1.AuditEntry {
				es[22].Actor = "telco"
				rechain(es, 22)
				return es
			}},
		{name: "signature of entry 23 stripped, chain rewritten", index: 23, reason: "signer_cert without signature",
			tamper: func(_ *testing.T, es []*mitaiv1.AuditEntry) []*mitaiv1.AuditEntry {
				es[22].Signature = nil
				rechain(es, 22)
				return es
			}},
		{name: "signer_cert of entry 23 stripped, chain rewritten", index: 23, reason: "signature without signer_cert",
			tamper: func(_ *testing.T, es []*mitaiv1.AuditEntry) []*mitaiv1.AuditEntry {
				es[22].SignerCert = nil
				rechain(es, 22)
				return es
			}},
		{name: "signer_cert of entry 23 garbage, chain rewritten", index: 23, reason: "signer_cert does not parse",
			tamper: func(_ *testing.T, es []*mitaiv1.AuditEntry) []*mitaiv1.AuditEntry {
				es[22].SignerCert = []byte("garbage")
				rechain(es, 22)
				return es
			}},
		{name: "signer_cert of entry 23 has an Ed25519 key", index: 23, reason: "not ECDSA P-256",
			tamper: func(t *testing.T, es []*mitaiv1.AuditEntry) []*mitaiv1.AuditEntry {
				es[22].SignerCert = ed25519Cert(t)
				rechain(es, 22)
				return es
			}},
		{name: "signer cert from another CA", roots: true, goodNoCA: true, index: 23, reason: "not valid for client authentication",
			tamper: func(t *testing.T, es []*mitaiv1.AuditEntry) []*mitaiv1.AuditEntry {
				resign(t, es, 22, otherCA.issue(t, "bank"))
				return es
			}},
		{name: "signer CN is not the actor", roots: true, goodNoCA: true, index: 28, reason: `signed by party "telco"`,
			tamper: func(t *testing.T, es []*mitaiv1.AuditEntry) []*mitaiv1.AuditEntry {
				resign(t, es, 27, ca.issue(t, "telco"))
				return es
			}},
		{name: "signer cert without client auth", roots: true, goodNoCA: true, index: 8, reason: "not valid for client authentication",
			tamper: func(t *testing.T, es []*mitaiv1.AuditEntry) []*mitaiv1.AuditEntry {
				resign(t, es, 7, ca.issue(t, "bank", x509.ExtKeyUsageServerAuth))
				return es
			}},
		{name: "signed entry dated after the cert expired", roots: true, goodNoCA: true, index: 33, reason: "not valid for client authentication",
			tamper: func(_ *testing.T, es []*mitaiv1.AuditEntry) []*mitaiv1.AuditEntry {
				es[32].TimeUnixMs = time.Now().Add(48 * time.Hour).UnixMilli()
				rechain(es, 32)
				return es
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			es := tt.tamper(t, cloneAll(good))
			verify := func(roots *x509.CertPool) error {
				if tt.first != 0 {
					return VerifyRange(es, tt.first, roots)
				}
				return Verify(es, roots)
			}
			var roots *x509.CertPool
			if tt.roots {
				roots = ca.pool
			}
			err := verify(roots)
			var be *BrokenError
			if !errors.As(err, &be) {
				t.Fatalf("Verify = %v, want a *BrokenError", err)
			}
			if be.Index != tt.index || !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("Verify = %v (entry %d at position %d), want entry %d: %s", err, be.Index, be.Position, tt.index, tt.reason)
			}
			if tt.goodNoCA {
				if err := verify(nil); err != nil {
					t.Fatalf("without CA roots: %v", err)
				}
			}
		})
	}
}

// ed25519Cert returns a self-signed certificate with an Ed25519 key.
func ed25519Cert(t *testing.T) []byte {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "bank"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestSignRefusesNonP256(t *testing.T) {
	t.Parallel()
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(4), Subject: pkix.Name{CommonName: "bank"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	if err := Sign(&mitaiv1.AuditEntry{}, der, key); err == nil || !strings.Contains(err.Error(), "P-256") {
		t.Fatalf("Sign with a P-384 key: %v", err)
	}
}

func TestBrokenErrorMessage(t *testing.T) {
	t.Parallel()
	err := &BrokenError{Index: 17, Position: 16, Reason: "hash does not match its content"}
	if got, want := err.Error(), "ledger: entry 17 is broken: hash does not match its content"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
