package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/mitai-dev/mitai/crypto/pki"
	"github.com/mitai-dev/mitai/internal/mtls"
	"github.com/mitai-dev/mitai/node"
	mitaiv1 "github.com/mitai-dev/mitai/proto/mitai/v1"
)

// adminFlags say how to reach a node's admin API: from the node's own
// config file (same host), or with explicit address and certificate files.
type adminFlags struct {
	config, addr, ca, cert, key string
}

func (f *adminFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "the node's config file: use its address and certificate")
	fl.StringVar(&f.addr, "node", "", "node address host:port (overrides the config's)")
	fl.StringVar(&f.ca, "ca", "", "cluster CA certificate (overrides the config's)")
	fl.StringVar(&f.cert, "cert", "", "client certificate of the node's party (overrides the config's)")
	fl.StringVar(&f.key, "key", "", "client key (overrides the config's)")
}

// dial connects to the node's admin API.
func (f *adminFlags) dial() (mitaiv1.NodeAdminClient, string, func(), error) {
	addr, ca, cert, key := f.addr, f.ca, f.cert, f.key
	party := ""
	if f.config != "" {
		cfg, err := node.LoadConfig(f.config)
		if err != nil {
			return nil, "", nil, err
		}
		party = cfg.Party
		addr = firstNonEmpty(addr, cfg.Listen)
		ca, cert, key = firstNonEmpty(ca, cfg.TLS.CA), firstNonEmpty(cert, cfg.TLS.Cert), firstNonEmpty(key, cfg.TLS.Key)
	}
	if addr == "" || ca == "" || cert == "" || key == "" {
		return nil, "", nil, fmt.Errorf("say how to reach the node: --config node.yaml, or --node, --ca, --cert and --key")
	}
	c, err := pki.LoadCredentials(cert, key)
	if err != nil {
		return nil, "", nil, err
	}
	if party == "" && c.Leaf != nil {
		party = c.Leaf.Subject.CommonName
	}
	caPEM, err := os.ReadFile(ca)
	if err != nil {
		return nil, "", nil, err
	}
	opts, err := mtls.DialOptions(c, caPEM, addr, party)
	if err != nil {
		return nil, "", nil, err
	}
	cc, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, "", nil, err
	}
	return mitaiv1.NewNodeAdminClient(cc), party, func() { cc.Close() }, nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
