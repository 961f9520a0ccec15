package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mitai-dev/mitai/crypto/pki"
	"github.com/mitai-dev/mitai/internal/coordclient"
)

// coordFlags say how to reach the coordinator: any of its replicas, with a
// certificate of the caller's party. Each defaults to an environment variable.
type coordFlags struct {
	addrs         []string
	ca, cert, key string
	timeout       time.Duration
}

func (f *coordFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringSliceVar(&f.addrs, "coordinator", splitEnv("MITAI_COORDINATOR"), "replica API addresses host:port, comma-separated ($MITAI_COORDINATOR)")
	fl.StringVar(&f.ca, "ca", os.Getenv("MITAI_CA"), "cluster CA certificate ($MITAI_CA)")
	fl.StringVar(&f.cert, "cert", os.Getenv("MITAI_CERT"), "your party's certificate ($MITAI_CERT)")
	fl.StringVar(&f.key, "key", os.Getenv("MITAI_KEY"), "its key ($MITAI_KEY)")
	fl.DurationVar(&f.timeout, "timeout", 30*time.Second, "give up after this long, trying every replica")
}

func splitEnv(name string) []string {
	if v := os.Getenv(name); v != "" {
		return strings.Split(v, ",")
	}
	return nil
}

// dial connects to the coordinator.
func (f *coordFlags) dial() (*coordclient.Client, error) {
	if len(f.addrs) == 0 || f.ca == "" || f.cert == "" || f.key == "" {
		return nil, fmt.Errorf("say how to reach the coordinator: --coordinator, --ca, --cert and --key (or $MITAI_COORDINATOR, $MITAI_CA, $MITAI_CERT, $MITAI_KEY)")
	}
	cert, err := pki.LoadCredentials(f.cert, f.key)
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(f.ca)
	if err != nil {
		return nil, err
	}
	return coordclient.Dial(f.addrs, cert, caPEM, f.timeout)
}
