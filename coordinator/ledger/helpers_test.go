package ledger

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
)

// testCA is a throwaway certificate authority.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

// testNode is a node's certificate (DER) and key.
type testNode struct {
	der []byte
	key *ecdsa.PrivateKey
}

func newTestCA(t testing.TB, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue makes a node certificate with CN party and the given extended key
// usages (ClientAuth and ServerAuth if none).
func (ca *testCA) issue(t testing.TB, party string, eku ...x509.ExtKeyUsage) testNode {
	t.Helper()
	if eku == nil {
		eku = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: party},
		NotBefore:    time.Now().Add(-30 * time.Minute),
		NotAfter:     time.Now().Add(30 * time.Minute),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  eku,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return testNode{der: der, key: key}
}

// signed reports whether buildChain signs entry index.
func signed(index uint64) bool { return index%5 == 3 }

// buildChain appends n entries to a new ledger and returns it. Entries whose
// index is 3 mod 5 are task outcomes signed by node, whose party is "bank";
// the others alternate between the coordinator's own entries and client
// requests. Times are within the validity of node's certificate.
func buildChain(t testing.TB, n int, node testNode) *Ledger {
	t.Helper()
	l := New()
	base := time.Now().Add(-10 * time.Minute).UnixMilli()
	for i := 1; i <= n; i++ {
		e := &mitaiv1.AuditEntry{
			TimeUnixMs: base + int64(i)*1000,
			Subject:    fmt.Sprintf("job-%d", i/4),
			Detail:     detail(i),
		}
		switch {
		case signed(uint64(i)):
			e.Kind, e.Actor = "task.outcome", "bank"
			if err := Sign(e, node.der, node.key); err != nil {
				t.Fatal(err)
			}
		case i%2 == 0:
			e.Kind = "task.assigned"
		default:
			e.Kind, e.Actor = "job.submitted", "telco"
		}
		l.Append(e)
	}
	return l
}

// detail is a deterministic command-like payload for entry i.
func detail(i int) []byte {
	b, err := proto.Marshal(&mitaiv1.Command{
		TimeUnixMs: int64(i),
		Actor:      "telco",
		Body:       &mitaiv1.Command_CancelJob{CancelJob: &mitaiv1.CancelJobCommand{JobId: fmt.Sprintf("job-%d", i), Reason: "entry detail for tests"}},
	})
	if err != nil {
		panic(err)
	}
	return b
}

// cloneAll deep-copies entries.
func cloneAll(entries []*mitaiv1.AuditEntry) []*mitaiv1.AuditEntry {
	out := make([]*mitaiv1.AuditEntry, len(entries))
	for i, e := range entries {
		out[i] = proto.Clone(e).(*mitaiv1.AuditEntry)
	}
	return out
}

// rechain recomputes prev_hash and hash from position from on, as a forger
// who rewrites the tail of the chain would.
func rechain(entries []*mitaiv1.AuditEntry, from int) {
	for i := from; i < len(entries); i++ {
		if i > 0 {
			entries[i].PrevHash = entries[i-1].Hash
		}
		h := EntryHash(entries[i])
		entries[i].Hash = h[:]
	}
}

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }
