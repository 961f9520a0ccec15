package main

import (
	"bytes"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mitai-dev/mitai/coordinator/ledger"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
)

func auditCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Check the coordinator's audit ledger"}
	var opts auditVerifyOptions
	var liveFlags coordFlags
	verifyCmd := &cobra.Command{
		Use:   "verify (--file ledger.jsonl | --live) [--ca ca.crt] [--head HEXHASH]",
		Short: "Recompute the ledger's hash chain, from an export or a live replica, and check its node signatures",
		Long: `Reads a ledger export (JSON Lines, one AuditEntry per line), or with --live the
whole ledger from the coordinator (through the leader; MITAI_COORDINATOR etc.
or the flags name it), checks that its
entries are consecutive from --first, that each is chained to the one before
and hashes to the hash it carries, and that every node signature verifies.
With --ca, a signing node's certificate must also have been issued by that CA
for client authentication, be valid at the entry's time and name the entry's
actor. With --head, the export must end with that hash: a hash chain alone
cannot tell that entries were cut off the end, so get the head from a source
you trust (another replica, an earlier audit). Prints "ok: N entries, head H"
or fails naming the first broken entry.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.ca = liveFlags.ca // --ca ($MITAI_CA): check who signed each signed entry
			if (opts.file == "") == !opts.live {
				return errors.New("audit verify: give --file or --live")
			}
			load := func() ([]*mitaiv1.AuditEntry, error) { return readLedgerFile(opts) }
			if opts.live {
				opts.file, opts.first = "(live ledger)", 1
				load = func() ([]*mitaiv1.AuditEntry, error) {
					c, err := liveFlags.dial()
					if err != nil {
						return nil, err
					}
					defer c.Close()
					return fetchLedger(cmd.Context(), c, 1, 0)
				}
			}
			return auditVerify(cmd.OutOrStdout(), cmd.ErrOrStderr(), opts, load)
		},
	}
	liveFlags.register(verifyCmd)
	verifyCmd.Flags().BoolVar(&opts.live, "live", false, "read the whole ledger from the coordinator instead of a file")
	verifyCmd.Flags().StringVar(&opts.file, "file", "", "the ledger export (JSON Lines)")
	verifyCmd.Flags().StringVar(&opts.head, "head", "", "hex SHA-256 hash the export's last entry must have")
	verifyCmd.Flags().Uint64Var(&opts.first, "first", 1, "index the export must start at (1: a whole ledger; 0: wherever it starts)")
	cmd.AddCommand(verifyCmd, auditExportCmd())
	return cmd
}

type auditVerifyOptions struct {
	file, ca, head string
	first          uint64
	live           bool
}

// readLedgerFile reads an export, naming the entry of a line that does not parse.
func readLedgerFile(opts auditVerifyOptions) ([]*mitaiv1.AuditEntry, error) {
	f, err := os.Open(opts.file)
	if err != nil {
		return nil, fmt.Errorf("audit verify: %w", err)
	}
	defer f.Close()
	entries, err := ledger.ReadJSONL(f)
	if err != nil {
		var pe *ledger.ParseError
		if errors.As(err, &pe) && opts.first != 0 {
			// Every line before this one parsed, so in an export that
			// starts at entry first, line L holds entry first+L-1.
			pe.Index = opts.first + uint64(pe.Line) - 1
		}
		return nil, fmt.Errorf("audit verify %s: %w", opts.file, err)
	}
	return entries, nil
}

// auditVerify checks the entries load returns; see auditCmd.
func auditVerify(stdout, stderr io.Writer, opts auditVerifyOptions, load func() ([]*mitaiv1.AuditEntry, error)) error {
	var wantHead [32]byte
	if opts.head != "" {
		b, err := hex.DecodeString(strings.TrimSpace(opts.head))
		if err != nil || len(b) != 32 {
			return fmt.Errorf("audit verify: --head %q is not a SHA-256 hash (64 hex digits)", opts.head)
		}
		wantHead = [32]byte(b)
	}
	var roots *x509.CertPool
	if opts.ca != "" {
		var err error
		if roots, err = loadCAPool(opts.ca); err != nil {
			return fmt.Errorf("audit verify: %w", err)
		}
	}

	entries, err := load()
	if err != nil {
		return err
	}

	if opts.first != 0 {
		err = ledger.VerifyRange(entries, opts.first, roots)
	} else {
		err = ledger.Verify(entries, roots)
	}
	if err != nil {
		return fmt.Errorf("audit verify %s: %w", opts.file, err)
	}

	var head [32]byte // verified: every hash is 32 bytes
	if len(entries) > 0 {
		head = [32]byte(entries[len(entries)-1].Hash)
	}
	if opts.head != "" && head != wantHead {
		return fmt.Errorf("audit verify %s: %s", opts.file, headMismatch(entries, head, wantHead))
	}

	if roots == nil {
		if n := countSigned(entries); n > 0 {
			fmt.Fprintf(stderr, "note: %d signed entries were checked against the certificates they carry only; pass --ca to check who signed them\n", n)
		}
	}
	if opts.head == "" {
		fmt.Fprintln(stderr, "note: without --head, entries cut off the end of the ledger cannot be detected")
	}
	fmt.Fprintf(stdout, "ok: %d entries, head %x\n", len(entries), head)
	return nil
}

// headMismatch explains why the export does not end with the expected head.
func headMismatch(entries []*mitaiv1.AuditEntry, head, want [32]byte) string {
	for _, e := range entries {
		if bytes.Equal(e.Hash, want[:]) {
			return fmt.Sprintf("the expected head %x is entry %d, but the export goes on to entry %d (entries up to the head are intact; those after it are newer than the head)",
				want, e.Index, entries[len(entries)-1].Index)
		}
	}
	if len(entries) == 0 {
		return fmt.Sprintf("the export is empty, but the expected head is %x: entries are missing", want)
	}
	return fmt.Sprintf("the export ends at entry %d with hash %x, not the expected head %x: entries are missing at the end, or it is another ledger",
		entries[len(entries)-1].Index, head, want)
}

func countSigned(entries []*mitaiv1.AuditEntry) int {
	n := 0
	for _, e := range entries {
		if len(e.Signature) > 0 {
			n++
		}
	}
	return n
}

// loadCAPool reads a PEM file of one or more CA certificates.
func loadCAPool(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	pool := x509.NewCertPool()
	n := 0
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("CA file %s: unexpected PEM block %q, want CERTIFICATE", path, block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("CA file %s: certificate %d: %w", path, n+1, err)
		}
		if !cert.IsCA {
			return nil, fmt.Errorf("CA file %s: certificate %d (CN %q) is not a CA certificate", path, n+1, cert.Subject.CommonName)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("CA file %s: no PEM certificate in it", path)
	}
	if len(bytes.TrimSpace(data)) > 0 {
		return nil, fmt.Errorf("CA file %s: trailing data after the certificates", path)
	}
	return pool, nil
}
