package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mitai-dev/mitai/coordinator/ledger"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
)

// auditFixture is a 50-entry ledger whose entries 3, 8, 13, ... are task
// outcomes signed by bank's node, exported to a file, with the CA's PEM.
type auditFixture struct {
	dir     string
	entries []*mitaiv1.AuditEntry
	export  []byte
	path    string // the export
	caPath  string // the CA that issued bank's node certificate
	otherCA string // another CA
}

func newAuditFixture(t *testing.T) *auditFixture {
	t.Helper()
	fx := &auditFixture{dir: t.TempDir()}
	caCert, caKey, caPEM := auditTestCA(t)
	_, _, otherPEM := auditTestCA(t)
	fx.caPath = fx.write(t, "ca.crt", caPEM)
	fx.otherCA = fx.write(t, "other.crt", otherPEM)

	nodeKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "bank"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	nodeDER, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, nodeKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}

	l := ledger.New()
	base := time.Now().Add(-10 * time.Minute).UnixMilli()
	for i := 1; i <= 50; i++ {
		d, _ := proto.Marshal(&mitaiv1.CancelJobCommand{JobId: fmt.Sprintf("job-%d", i), Reason: "audit test"})
		e := &mitaiv1.AuditEntry{TimeUnixMs: base + int64(i)*1000, Kind: "job.cancelled", Actor: "telco",
			Subject: fmt.Sprintf("job-%d", i), Detail: d}
		if i%5 == 3 {
			e.Kind, e.Actor = "task.outcome", "bank"
			if err := ledger.Sign(e, nodeDER, nodeKey); err != nil {
				t.Fatal(err)
			}
		}
		l.Append(e)
	}
	fx.entries = l.Entries()
	var buf bytes.Buffer
	if err := ledger.WriteJSONL(&buf, fx.entries); err != nil {
		t.Fatal(err)
	}
	fx.export = buf.Bytes()
	fx.path = fx.write(t, "ledger.jsonl", fx.export)
	return fx
}

func (fx *auditFixture) write(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(fx.dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// head returns the hex hash of entry i.
func (fx *auditFixture) head(i int) string { return hex.EncodeToString(fx.entries[i-1].Hash) }

func auditTestCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "audit test CA"},
		NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: time.Now().Add(2 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// runAudit runs `audit args...` through auditCmd and returns its stdout.
func runAudit(args ...string) (string, error) {
	cmd := auditCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

// namesEntry reports whether err names entry k, in its text and its type.
func namesEntry(err error, k uint64) bool {
	if err == nil || !regexp.MustCompile(fmt.Sprintf(`\bentry %d\b`, k)).MatchString(err.Error()) {
		return false
	}
	var be *ledger.BrokenError
	var pe *ledger.ParseError
	return errors.As(err, &be) && be.Index == k || errors.As(err, &pe) && pe.Index == k
}

func TestAuditVerify(t *testing.T) {
	t.Parallel()
	fx := newAuditFixture(t)
	lines := strings.SplitAfter(string(fx.export), "\n")
	truncated := fx.write(t, "truncated.jsonl", []byte(strings.Join(lines[:45], "")))
	rangeFile := fx.write(t, "range.jsonl", []byte(strings.Join(lines[10:20], "")))
	empty := fx.write(t, "empty.jsonl", nil)
	notCA := fx.write(t, "not-a-ca.crt", []byte("hello"))

	tests := []struct {
		name string
		args []string
		out  string // stdout, when it succeeds
		err  string // regexp the error must match, when it fails
	}{
		{name: "good", args: []string{"--file", fx.path},
			out: "ok: 50 entries, head " + fx.head(50) + "\n"},
		{name: "good, CA", args: []string{"--file", fx.path, "--ca", fx.caPath},
			out: "ok: 50 entries, head " + fx.head(50) + "\n"},
		{name: "good, CA and head", args: []string{"--file", fx.path, "--ca", fx.caPath, "--head", strings.ToUpper(fx.head(50))},
			out: "ok: 50 entries, head " + fx.head(50) + "\n"},
		{name: "truncated, head", args: []string{"--file", truncated, "--head", fx.head(50)},
			err: `ends at entry 45 .* not the expected head .*entries are missing at the end`},
		{name: "truncated, no head", args: []string{"--file", truncated},
			out: "ok: 45 entries, head " + fx.head(45) + "\n"},
		{name: "head of an earlier entry", args: []string{"--file", fx.path, "--head", fx.head(40)},
			err: `expected head [0-9a-f]+ is entry 40, but the export goes on to entry 50`},
		{name: "head not a hash", args: []string{"--file", fx.path, "--head", "abc"}, err: `not a SHA-256 hash`},
		{name: "other CA", args: []string{"--file", fx.path, "--ca", fx.otherCA},
			err: `entry 3 is broken: signer certificate "bank" is not valid for client authentication`},
		{name: "CA file not a certificate", args: []string{"--file", fx.path, "--ca", notCA}, err: `no PEM certificate`},
		{name: "CA file missing", args: []string{"--file", fx.path, "--ca", filepath.Join(fx.dir, "nope.crt")}, err: `no such file`},
		{name: "export missing", args: []string{"--file", filepath.Join(fx.dir, "nope.jsonl")}, err: `no such file`},
		{name: "no --file", args: nil, err: `give --file or --live`},
		{name: "empty export", args: []string{"--file", empty},
			out: "ok: 0 entries, head " + strings.Repeat("0", 64) + "\n"},
		{name: "empty export, head", args: []string{"--file", empty, "--head", fx.head(1)}, err: `export is empty`},
		{name: "range, as a whole ledger", args: []string{"--file", rangeFile},
			err: `entry 1 is broken: found entry with index 11 at position 0`},
		{name: "range, --first 11", args: []string{"--file", rangeFile, "--first", "11", "--ca", fx.caPath, "--head", fx.head(20)},
			out: "ok: 10 entries, head " + fx.head(20) + "\n"},
		{name: "range, --first 0", args: []string{"--file", rangeFile, "--first", "0"},
			out: "ok: 10 entries, head " + fx.head(20) + "\n"},
		{name: "range, --first 12", args: []string{"--file", rangeFile, "--first", "12"},
			err: `entry 12 is broken: found entry with index 11`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := runAudit(append([]string{"verify"}, tt.args...)...)
			if tt.err == "" {
				if err != nil || out != tt.out {
					t.Fatalf("audit verify %v = %q, %v; want %q", tt.args, out, err, tt.out)
				}
				return
			}
			if err == nil || !regexp.MustCompile(tt.err).MatchString(err.Error()) {
				t.Fatalf("audit verify %v = %q, %v; want an error matching %q", tt.args, out, err, tt.err)
			}
		})
	}
}

// TestAuditVerifyCorruptByte is fault test 6: corrupt one byte of an export
// of 50 entries inside entry k, in a base64 field, a string, a number, a
// key or the JSON structure; `audit verify` must fail naming entry k.
func TestAuditVerifyCorruptByte(t *testing.T) {
	t.Parallel()
	fx := newAuditFixture(t)
	lines := strings.SplitAfter(string(fx.export), "\n")
	start := func(k int) int { return len(strings.Join(lines[:k-1], "")) }

	// at returns the offset in line k of the byte delta after the first
	// occurrence of marker.
	at := func(t *testing.T, k int, marker string, delta int) int {
		i := strings.Index(lines[k-1], marker)
		if i < 0 {
			t.Fatalf("line %d has no %q", k, marker)
		}
		return i + len(marker) + delta
	}
	// A replacement that changes what the byte means: another base64
	// digit, letter or decimal digit, or junk for structure.
	replace := func(c byte) byte {
		switch {
		case c >= '0' && c <= '8':
			return c + 1
		case c == '9':
			return '0'
		case c >= 'A' && c <= 'Y', c >= 'a' && c <= 'y':
			return c + 1
		case c == 'Z', c == 'z':
			return c - 1
		}
		return '#'
	}
	type place struct {
		name       string
		marker     string
		delta      int
		onlySigned bool
	}
	places := []place{
		{"detail (base64)", `"detail":"`, 6, false},
		{"prevHash (base64)", `"prevHash":"`, 10, false},
		{"hash (base64)", `"hash":"`, 20, false},
		{"signature (base64)", `"signature":"`, 30, true},
		{"signerCert (base64)", `"signerCert":"`, 200, true},
		{"kind (string)", `"kind":"`, 2, false},
		{"subject (string)", `"subject":"`, 0, false},
		{"actor (string)", `"actor":"`, 1, false},
		{"index (number)", `"index":"`, 0, false},
		{"timeUnixMs (number)", `"timeUnixMs":"`, 12, false},
		{"a key", `"subject`, -5, false},
		{"opening brace", `{`, -1, false},
		{"a closing quote", `"kind":"job.cancelled`, 0, false},
		{"end of line", "}\n", -1, false},
	}
	for _, k := range []int{1, 2, 3, 17, 23, 49, 50} { // 3 and 23 are signed
		for _, p := range places {
			signedEntry := k%5 == 3
			if p.onlySigned && !signedEntry {
				continue
			}
			if p.name == "a closing quote" && signedEntry {
				continue
			}
			t.Run(fmt.Sprintf("entry %d/%s", k, p.name), func(t *testing.T) {
				t.Parallel()
				buf := bytes.Clone(fx.export)
				pos := start(k) + at(t, k, p.marker, p.delta)
				buf[pos] = replace(buf[pos])
				path := fx.write(t, fmt.Sprintf("corrupt-%d-%s.jsonl", k, strings.Fields(p.name)[0]), buf)
				_, err := runAudit("verify", "--file", path, "--ca", fx.caPath)
				if !namesEntry(err, uint64(k)) {
					t.Fatalf("byte %q -> %q at %d of line %d: audit verify: %v; want an error naming entry %d",
						fx.export[pos], buf[pos], pos-start(k), k, err, k)
				}
			})
		}
	}
}

// TestAuditVerifyEveryByte flips each bit 0 of every byte of one entry's
// line: audit verify must name that entry, unless the change decodes to
// the same ledger (whitespace, an equivalent base64 spelling).
func TestAuditVerifyEveryByte(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("hundreds of runs")
	}
	fx := newAuditFixture(t)
	lines := strings.SplitAfter(string(fx.export), "\n")
	const k = 17
	start := len(strings.Join(lines[:k-1], ""))
	benign := 0
	for pos := start; pos < start+len(lines[k-1]); pos++ {
		buf := bytes.Clone(fx.export)
		buf[pos] ^= 0x01
		path := fx.write(t, "flip.jsonl", buf)
		_, err := runAudit("verify", "--file", path, "--ca", fx.caPath)
		if namesEntry(err, k) {
			continue
		}
		got, rerr := ledger.ReadJSONL(bytes.NewReader(buf))
		if err == nil && rerr == nil && len(got) == len(fx.entries) && proto.Equal(got[k-1], fx.entries[k-1]) {
			benign++
			continue
		}
		t.Fatalf("byte %q -> %q at %d of line %d: audit verify: %v; want an error naming entry %d", fx.export[pos], buf[pos], pos-start, k, err, k)
	}
	t.Logf("%d of %d one-bit changes decode to the same ledger", benign, len(lines[k-1]))
}
